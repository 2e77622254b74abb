"""First-party plugin: EncoderMI-V / -S / -T, membership inference on the media encoder
from augmentation similarities, with shadow encoders under 8 background-knowledge settings."""

from __future__ import annotations

from mia_bench import hookimpl

from .attack import EncoderMIS, EncoderMIT, EncoderMIV


@hookimpl
def register_attacks(register):
    register(EncoderMIV)
    register(EncoderMIS)
    register(EncoderMIT)


@hookimpl
def register_commands(cli):
    from .experiments import encodermi_table

    cli.add_command(encodermi_table)
