"""`vmtui` with no command runs the TUI; bad profiles fail before the screen opens."""

import subprocess
import sys


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "vmtui", *args], capture_output=True, text=True, timeout=60, check=False
    )


def test_unknown_profile_is_a_clear_error_before_the_ui_starts():
    result = run("--profile", "nowhere")
    assert result.returncode == 2
    assert "nowhere" in result.stderr and "Traceback" not in result.stderr


def test_tui_help_lists_the_flags():
    result = run("tui", "--help")
    assert result.returncode == 0
    for flag in ("--profile", "--ascii", "--state-dir", "--read-only", "--theme"):
        assert flag in result.stdout


def test_key_table_is_generated_from_the_live_bindings():
    from tools.keytable import markdown_table

    table = markdown_table()
    assert (
        "| `b` | Branch — Branch the selected VM (or the commit in the tree) into N new VMs | main screen | `vm.branch` |"
        in table
    )
    assert "`ctrl+p`" in table and "`app.palette`" in table and "`images.upload`" in table
