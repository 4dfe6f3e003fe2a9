"""Kernel-client noise goes to the grading log, each line naming its submission; the terminal stays clean."""

from __future__ import annotations

import logging

import nbformat
from nbformat.v4 import new_code_cell, new_notebook

from kit.grading import grade
from kit.grading.clientlog import CLIENT_LOG, CLIENT_LOGGERS, capture_client_logs, submission_context


def test_records_name_their_submission_and_leave_the_terminal(tmp_path, capfd):
    log = tmp_path / "grading.log"
    with capture_client_logs(log):
        with submission_context(7):
            logging.getLogger("traitlets").error("Kernel died while waiting for execute reply.")
        logging.getLogger("asyncio").error("Task was destroyed but it is pending!")
    lines = log.read_text().splitlines()
    assert lines[0].endswith("[submission 7] traitlets ERROR: Kernel died while waiting for execute reply.")
    assert lines[1].endswith("[session] asyncio ERROR: Task was destroyed but it is pending!")
    assert (log.stat().st_mode & 0o777) == 0o600
    assert capfd.readouterr().err == ""
    assert all(logging.getLogger(n).propagate for n in CLIENT_LOGGERS), "restored after the session"


def test_a_notebook_killing_its_kernel_prints_nothing_from_the_client(root, workdir, tmp_path, capfd):
    subs = tmp_path / "subs" / "killer"
    subs.mkdir(parents=True)
    params = new_code_cell('data_dir = "data"\npredictions_path = "predictions.csv"', metadata={"tags": ["parameters"]})
    nb = new_notebook(cells=[params, new_code_cell("import os, signal\nos.kill(os.getpid(), signal.SIGKILL)")])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, subs / "kill.ipynb")
    report = grade("breast-cancer", [tmp_path / "subs"], workdir=workdir, root=root)
    assert report.counts["failed"] == 1, repr(report)
    err = capfd.readouterr().err
    assert "Kernel died" not in err and "Task was destroyed" not in err, err
    log = (workdir / "breast-cancer" / CLIENT_LOG).read_text()
    sid = report.entries[0].submission_id
    assert all("[submission" in line or "[session]" in line for line in log.splitlines())
    assert f"[submission {sid}] kit.execution.engine ERROR: Kernel died" in log, log
