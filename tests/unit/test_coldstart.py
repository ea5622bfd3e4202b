import gc

from fmgateway.aws.coldstart import paused_gc


def test_gc_is_off_inside_and_restored_with_init_objects_frozen():
    assert gc.isenabled()
    with paused_gc():
        assert not gc.isenabled()
        built = [object() for _ in range(1000)]
    assert gc.isenabled()
    assert gc.get_freeze_count() >= len(built)
    gc.unfreeze()


def test_a_disabled_gc_stays_disabled():
    gc.disable()
    try:
        with paused_gc():
            pass
        assert not gc.isenabled()
    finally:
        gc.unfreeze()
        gc.enable()
