"""``fmgw``: the FM Gateway's client and operator commands (``fmgw --help``).

What this package owns: the command line. Client commands talk to a running gateway over HTTP (``fmgw jobs``);
operator commands work offline on the repository's configuration and the router artifact (``fmgw route score``,
``fmgw models access``). Each command is a thin layer over library code: the gateway's own packages
(``fmgateway``: the same routing decision a request gets) and ``infra.settings`` (the deployment checks, which
import no CDK).

Dependency rule: ``fmgw`` may import ``fmgateway``; ``fmgateway`` and ``handlers`` never import ``fmgw``. ``fmgw``
never ships in a Lambda bundle (``infra/bundle.py`` stages ``fmgateway``, ``handlers`` and ``schemas`` only;
``tests/infra/test_bundle.py`` checks), so its own dependencies (typer, rich, httpx: ``requirements-dev.txt``)
are never Lambda dependencies.
"""
