"""SearchConfig: counts the architecture updates and warns when they cannot commit the gates."""

import pytest

from ednas_tf.search.loop import MIN_LOGIT_TRAVEL, SearchConfig


def test_arch_steps_skip_warmup_and_follow_the_update_interval():
    assert SearchConfig(epochs=5, warmup_epochs=2, steps_per_epoch=100).arch_steps == 300
    config = SearchConfig(epochs=3, warmup_epochs=1, steps_per_epoch=7, arch_update_every=2)
    assert config.arch_steps == 2 * 4  # steps 0, 2, 4, 6 of each epoch


def test_short_architecture_phase_warns_and_the_default_does_not():
    assert SearchConfig().short_search_warning() is None  # 800 steps at 0.01
    short = SearchConfig(epochs=2, warmup_epochs=1, steps_per_epoch=60)
    message = short.short_search_warning()
    assert message and "60 steps" in message and "0.6" in message
    # the same phase with an arch_lr that covers the travel is fine
    lr = MIN_LOGIT_TRAVEL / 60
    assert SearchConfig(
        epochs=2, warmup_epochs=1, steps_per_epoch=60, arch_lr=lr
    ).short_search_warning() is None
    with pytest.raises(ValueError):
        SearchConfig(epochs=1, warmup_epochs=2)
