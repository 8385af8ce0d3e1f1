"""`crm staff set-password EMAIL`: the password from standard input (the click runner) or a hidden prompt typed
twice on a terminal (a real pseudo-terminal), never from an argument; 12 to 1024 characters; the staff user's
sessions revoked. What it sets is checked by signing in (tests/auth/test_staff_sign_in.py has the helpers)."""
from __future__ import annotations

import os
import pty
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from select import select as wait_readable

import pytest
from sqlalchemy import select

from crm.auth.models import StaffUser
from crm.auth.services import create_staff, create_token
from crm.enums import Role
from tests.auth.test_staff_sign_in import (  # noqa: F401  (ada is a fixture)
    EMAIL, INVALID_CREDENTIALS, PASSWORD, T0, VIEWER, ada, attempt, post)


def test_set_password_reads_standard_input_and_revokes_the_staff_users_sessions(client, ctx, ada, runner, clock):
    clock.freeze(T0)
    sessions = [attempt(client)["token"], attempt(client)["token"]]
    api_token = create_token(ctx, role=Role.ADMIN, staff_email=EMAIL)[1]
    clock.freeze(T0 + timedelta(hours=1))
    result = runner.invoke(args=["staff", "set-password", EMAIL], input="a brand new passphrase\n")
    assert (result.exit_code, result.output) == (0, f"password set for {EMAIL}; 2 signed-in sessions revoked\n")
    ctx.expire_all()
    staff = ctx.scalars(select(StaffUser).where(StaffUser.email == EMAIL)).one()
    assert staff.password_changed_at == T0 + timedelta(hours=1)
    for token in sessions:
        assert post(client, VIEWER, token=token)[0] == 401
    assert post(client, VIEWER, token=api_token)[0] == 200  # an API token is not a session
    assert attempt(client) == INVALID_CREDENTIALS
    assert attempt(client, password="a brand new passphrase")["errors"] == []


@pytest.mark.parametrize("typed, message", [
    ("eleven char\n", "Error: INVALID (password): A password needs at least 12 characters.\n"),
    ("x" * 1025 + "\n", "Error: INVALID (password): A password has at most 1024 characters.\n"),
    ("", "Error: REQUIRED (password): no password on standard input (one line).\n"),
    ("\n", "Error: REQUIRED (password): no password on standard input (one line).\n"),
])
def test_set_password_refuses_a_short_long_or_missing_password_and_changes_nothing(ctx, ada, runner, typed,
                                                                                  message):
    before = ctx.scalars(select(StaffUser.password_hash).where(StaffUser.email == EMAIL)).one()
    result = runner.invoke(args=["staff", "set-password", EMAIL], input=typed)
    assert (result.exit_code, result.output) == (1, message)
    ctx.expire_all()
    assert ctx.scalars(select(StaffUser.password_hash).where(StaffUser.email == EMAIL)).one() == before


def test_set_password_takes_no_password_argument_and_names_an_unknown_email(ada, runner):
    result = runner.invoke(args=["staff", "set-password", EMAIL, PASSWORD], input=PASSWORD + "\n")
    assert result.exit_code == 2 and "Got unexpected extra argument" in result.output
    result = runner.invoke(args=["staff", "set-password", "eve@example.com"], input=PASSWORD + "\n")
    assert (result.exit_code, result.output) == (
        1, "Error: NOT_FOUND (email): No staff user has the email eve@example.com.\n")


def test_set_password_keeps_only_the_newline_of_the_line_it_reads(client, ada, runner):
    result = runner.invoke(args=["staff", "set-password", EMAIL], input="  spaces around it  \r\nsecond line\n")
    assert result.exit_code == 0, result.output
    assert attempt(client, password="  spaces around it  ")["errors"] == []


def read_until(fd: int, marker: bytes, timeout: float = 60) -> bytes:
    seen = b""
    deadline = time.monotonic() + timeout
    while marker not in seen:
        ready, _, _ = wait_readable([fd], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            raise AssertionError(f"no {marker!r} in {seen!r}")
        try:
            chunk = os.read(fd, 1024)
        except OSError:  # the other end closed: EIO on Linux
            chunk = b""
        if not chunk:
            raise AssertionError(f"no {marker!r} in {seen!r} before the end")
        seen += chunk
    return seen


def test_on_a_terminal_set_password_prompts_twice_without_echo(client, ctx, database_url, tmp_path):
    create_staff(ctx, name="Tia Terminal", email="tia@example.com", role=Role.MARKETER)
    env = {key: value for key, value in os.environ.items() if not key.startswith("CRM_") or key == "CRM_CLOCK_SHIFT"}
    env.update(CRM_DATABASE_URL=database_url, CRM_INSTANCE_PATH=str(tmp_path))
    master, slave = pty.openpty()
    process = subprocess.Popen([str(Path(sys.executable).with_name("crm")), "staff", "set-password", "tia@example.com"],
                               env=env, stdin=slave, stdout=slave, stderr=slave, start_new_session=True)
    os.close(slave)
    try:
        transcript = read_until(master, b"New password: ")
        os.write(master, b"first attempt typed\n")
        transcript += read_until(master, b"Repeat for confirmation: ")
        os.write(master, b"second attempt typo\n")
        transcript += read_until(master, b"New password: ")
        os.write(master, b"terminal passphrase\n")
        transcript += read_until(master, b"Repeat for confirmation: ")
        os.write(master, b"terminal passphrase\n")
        transcript += read_until(master, b"revoked\r\n")
        assert process.wait(60) == 0
    finally:
        os.close(master)
        if process.poll() is None:
            process.kill()
    assert transcript.decode().replace("\r\n", "\n").split("\n") == [
        "New password: ", "Repeat for confirmation: ", "Error: The two entered values do not match.",
        "New password: ", "Repeat for confirmation: ", "password set for tia@example.com; 0 signed-in sessions revoked", ""]  # nothing typed is echoed
    assert attempt(client, "tia@example.com", "terminal passphrase")["viewer"]["role"] == "MARKETER"
