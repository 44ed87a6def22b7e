"""A quiet command line: TensorFlow's own start-up and log lines are hidden unless asked for.

TensorFlow, XLA, LiteRT and the TFLite converter write to the process's file
descriptor 2 from C++: oneDNN and CPU-feature notices and CUDA probing at
import (before absl's logging is set up, so `TF_CPP_MIN_LOG_LEVEL` does not
reach them), `NodeDef mentions attribute ...` and `fully_quantize: ...` during
conversion, `INFO: Created TensorFlow Lite XNNPACK delegate` when an
interpreter starts. Its Python side logs through the `tensorflow` and `absl`
loggers and raises Python warnings.

`install(argv)`, called by `python -m hiu_tf` before anything imports
TensorFlow, does nothing when the user asks for everything (`-v` /
`--verbose`, or the environment variable `HIU_VERBOSE=1`). Otherwise it:

1. sets `TF_CPP_MIN_LOG_LEVEL=2` (INFO and WARNING off once absl is set up)
   unless the environment already sets it;
2. raises the `tensorflow` and `absl` loggers to ERROR and ignores Python
   warnings raised from `tensorflow` modules;
3. routes file descriptor 2 through a filter process that drops the lines
   `is_noise` recognises and passes everything else: ERROR and FATAL lines
   from C++ (other than the CUDA probing of a machine without a GPU driver and
   the converter's `NodeDef mentions attribute` notice), crashes, and any
   line it does not know. Python's own `sys.stderr` (our progress, logging,
   warnings and tracebacks) keeps writing to the real stderr directly, so it
   stays a terminal when it was one. The filter is a separate process so that
   the lines before a hard crash (a C++ `Check failed`, an abort) still come
   out: it reads until the last writer is gone.

Tests that call `hiu_tf.__main__.main` in-process are not affected: only
`python -m hiu_tf` (`hiu_tf.__main__.cli`) installs this.
"""

from __future__ import annotations

import atexit
import logging
import os
import re
import signal
import subprocess
import sys
import warnings

VERBOSE_ENV = "HIU_VERBOSE"
VERBOSE_FLAGS = ("-v", "--verbose")

# Lines of TensorFlow's that a command does not need to show. Anything else passes.
_NOISE = re.compile(
    rb"|".join(
        [
            # absl / glog INFO and WARNING lines: "I0000 00:00:1796.12 8688 port.cc:153] ..."
            rb"[IW]\d{4} \d\d:\d\d:\d+\.\d+ +\d+ [^\]\s]+:\d+\] ",
            rb"WARNING: All log messages before absl::InitializeLog\(\) is called are written",
            # The second line of cpu_feature_guard.cc's notice.
            rb"To enable the following instructions: .*rebuild TensorFlow with the appropriate",
            # ERROR lines that are no error: CUDA probing without a GPU driver, the
            # duplicate registration of GPU plugins, and a converter notice.
            rb"E\d{4} [^\]]+\] failed call to cuInit: ",
            rb"E\d{4} [^\]]+\] Unable to register cu(DNN|FFT|BLAS) factory: ",
            rb"E\d{4} [^\]]+\] NodeDef mentions attribute \w+ which is not in the op definition",
            # LiteRT / TFLite runtime log lines ("INFO: Created TensorFlow Lite XNNPACK ...").
            rb"(INFO|WARNING): ",
            # The TFLite converter's quantiser settings.
            rb"fully_quantize: \d+, inference_type: ",
        ]
    )
)


# Packages whose INFO lines a command shows: ours.
OWN_PACKAGES = ("hiu_tf", "mano_tf", "training", "export", "__main__")


class OwnInfoFilter(logging.Filter):
    """Passes WARNING and above from any logger, INFO and DEBUG only from `OWN_PACKAGES`.

    Libraries that log progress at INFO through Python's `logging` (ai-edge-quantizer
    writes "Serializing model..." to the root logger on every int8 export) would
    otherwise print through the handler that shows our own INFO lines.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.WARNING:
            return True
        return record.name.split(".")[0] in OWN_PACKAGES


def is_noise(line: bytes) -> bool:
    """Whether one line written to file descriptor 2 is TensorFlow's chatter (see `_NOISE`)."""
    return _NOISE.match(line) is not None


def wants_verbose(argv: list[str], environ=os.environ) -> bool:
    """`-v` / `--verbose` anywhere in `argv`, or `HIU_VERBOSE` set to anything but 0/false/no."""
    if any(arg in VERBOSE_FLAGS for arg in argv):
        return True
    return environ.get(VERBOSE_ENV, "").strip().lower() not in ("", "0", "false", "no", "off")


def _filter(source, sink) -> None:
    """Copies lines from `source` to `sink` (binary streams), leaving out `is_noise` lines."""
    for line in iter(source.readline, b""):
        if not is_noise(line):
            sink.write(line)
            sink.flush()


def _start_filter() -> None:
    """Routes file descriptor 2 through a filter process; Python's stderr keeps the real one."""
    real = os.dup(2)
    read_end, write_end = os.pipe()
    package_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
    child = subprocess.Popen(
        [sys.executable, "-m", "hiu_tf.cli.quiet"],
        stdin=read_end,
        stdout=real,
        stderr=real,
        env=env,
    )
    os.close(read_end)
    sys.stderr.flush()
    python_stderr = os.fdopen(
        os.dup(real),
        "w",
        buffering=1,
        encoding=getattr(sys.stderr, "encoding", None) or "utf-8",
        errors="backslashreplace",
    )
    os.dup2(write_end, 2)
    os.close(write_end)
    sys.stderr = python_stderr

    def stop() -> None:
        # Give fd 2 back and let the filter drain what is left before the shell prompt.
        try:
            sys.stderr.flush()
        finally:
            os.dup2(real, 2)
            os.close(real)
        try:
            child.wait(timeout=5)
        except subprocess.TimeoutExpired:  # a worker still holds the pipe; it drains alone
            pass

    atexit.register(stop)


def install(argv: list[str]) -> bool:
    """Quiets TensorFlow for this process unless `argv` or the environment asks for verbosity.

    Must run before TensorFlow is imported. Returns True if it quieted.
    """
    if wants_verbose(argv):
        return False
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    for name in ("tensorflow", "absl"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", module=r"tensorflow(\.|$)")
    try:
        _start_filter()
    except OSError as e:  # no usable stderr (closed, or no pipes): run unfiltered
        logging.getLogger(__name__).debug("stderr not filtered: %s", e)
    return True


if __name__ == "__main__":
    # The filter process: Ctrl-C is for the command, not for it; it ends when its input does.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _filter(sys.stdin.buffer, sys.stdout.buffer)
