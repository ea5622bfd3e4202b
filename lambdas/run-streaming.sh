#!/bin/sh
# The streaming function's handler. The Lambda Web Adapter (the layer's /opt/bootstrap, named by
# AWS_LAMBDA_EXEC_WRAPPER) runs this script, waits for the server on AWS_LWA_PORT to answer its readiness check,
# then forwards every invocation to it as HTTP and streams the answer back (AWS_LWA_INVOKE_MODE=response_stream).
# /var/task holds the code and the bundled packages (uvicorn); /opt/python the Powertools layer.
export PYTHONPATH="/var/task:/opt/python${PYTHONPATH:+:$PYTHONPATH}"
exec python3 -m uvicorn handlers.streaming_app:app \
  --host 127.0.0.1 --port "${AWS_LWA_PORT:-8080}" --no-access-log --lifespan off --log-level warning
