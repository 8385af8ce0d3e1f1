"""`crm import interactions FILE`: CSV and JSON Lines, streamed in batches of record_interactions."""
from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest
from sqlalchemy import func, select

from crm.api.ids import global_id
from crm.enums import Channel
from journeys.maps import rollups
from journeys.interactions.models import Interaction

HEADER = "customerId,customerExternalId,customerEmail,touchpointKey,occurredAt,emotion,painPoints,note,externalId"


@pytest.fixture
def people(app):
    """Two touchpoints, Ada (SHOP-1) and Bob, and one interaction of Ada's already recorded as "seen"."""
    from crm.customers.services import create_customer
    from crm.sessions import get_session
    from journeys.interactions.services import InteractionRow, record_interaction
    from journeys.maps.services import create_touchpoint
    with app.app_context():
        session = get_session()
        create_touchpoint(session, key="web.checkout", name="Checkout", channel=Channel.WEB, stage="purchase",
                          journey_map="purchase")
        create_touchpoint(session, key="store.repair-desk", name="Repair desk", channel=Channel.STORE,
                          stage="diagnosis", journey_map="after-sales")
        ada = create_customer(session, data={"firstName": "Ada", "email": "ada@example.com", "externalId": "SHOP-1"},
                              actor="test").id
        bob = create_customer(session, data={"firstName": "Bob", "email": "bob@example.com"}, actor="test").id
        record_interaction(session, InteractionRow(customer_id=ada, touchpoint_key="web.checkout",
                                                   occurred_at=datetime(2026, 6, 1, 10, tzinfo=timezone.utc),
                                                   external_id="seen"))
        return {"ada": ada, "bob": bob}


def interactions(app) -> list[tuple]:
    from crm.sessions import get_session
    with app.app_context():
        session = get_session()
        assert rollups.differences(session) == 0
        return [tuple(r) for r in session.execute(select(
            Interaction.external_id, Interaction.customer_id, Interaction.stage, Interaction.emotion,
            Interaction.pain_points, Interaction.note).order_by(Interaction.occurred_at, Interaction.external_id))]


def run_import(runner, path, exit_code):
    result = runner.invoke(args=["import", "interactions", str(path)])
    assert result.exit_code == exit_code, result.output + repr(result.exception)
    return result


def test_csv_records_good_rows_skips_duplicates_and_lists_rejections_by_line(app, runner, people, tmp_path):
    ada_id = global_id("Customer", people["ada"])
    path = tmp_path / "interactions.csv"
    path.write_text("\n".join([
        HEADER,
        f'{ada_id},,,web.checkout,2026-06-01T12:00:00+02:00,-1,long wait; Price|,"gave up, once",e-1',  # 2
        ",SHOP-1,,store.repair-desk,2026-06-02T09:00:00Z,2,,,e-2",                                    # 3
        ",,BOB@example.com,web.checkout,2026-06-03T09:00:00Z,,,,e-3",                                # 4
        f"{people['ada']},,,web.checkout,2026-06-01T10:00:00+00:00,,,,seen",                        # 5 duplicate
        ",,,web.checkout,2026-06-03T09:00:00Z,,,,",                                                  # 6
        ",NOPE-9,,web.checkout,2026-06-03T09:00:00Z,,,,",                                            # 7
        ",,ada@example.com,web.checkout,2026-06-03 09:00,,,,",                                       # 8
        ",,ada@example.com,web.checkout,2026-06-03T09:00:00Z,1.5,,,",                                # 9
        ",,ada@example.com,nope,2026-06-03T09:00:00Z,,,,",                                           # 10
        "",                                                                                          # 11 blank
        ',,ada@example.com,web.checkout,2026-06-04T09:00:00Z,7,,"two',                               # 12-13
        'lines",',
        ",,ada@example.com,web.checkout",                                                            # 14
        f"{ada_id},SHOP-1,,web.checkout,2026-06-03T09:00:00Z,,,,",                                   # 15
        ",,bob@example.com,web.checkout,2026-06-03T09:00:00Z,,,,e-3",                                # 16 duplicate
        "Q3VzdG9tZXI6bm9wZQ==,,,web.checkout,2026-06-03T09:00:00Z,,,,",                              # 17
        ',,ada@example.com,web.checkout,2026-06-05T09:00:00Z,0,,"a ""quoted"" word",e-5',            # 18
    ]) + "\n")

    result = run_import(runner, path, 1)

    assert result.stdout == "\n".join([
        "4 recorded, 2 skipped (duplicates), 9 rejected",
        "line 6: customerId: REQUIRED Give customerId, customerExternalId or customerEmail.",
        "line 7: customerExternalId: NOT_FOUND No customer has this externalId.",
        "line 8: occurredAt: INVALID '2026-06-03 09:00' has no offset: add one, e.g. \"Z\" or \"+02:00\".",
        "line 9: emotion: INVALID emotion is a whole number from -2 to 2, not '1.5'.",
        "line 10: touchpointKey: NOT_FOUND No touchpoint has the key 'nope'.",
        "line 12: emotion: INVALID emotion is from -2 (very negative) to 2 (very positive).",
        "line 14: csv: INVALID 4 cells, the header has 9.",
        "line 15: customerExternalId: INVALID Give only one of customerId, customerExternalId.",
        "line 17: customerId: INVALID Expected the id of a Customer.",
    ]) + "\n"
    assert "Importing interactions.csv" in result.stderr
    ada, bob = people["ada"], people["bob"]
    assert interactions(app) == [
        ("e-1", ada, "purchase", -1, ["long-wait", "price"], "gave up, once"),  # at the same time as "seen"
        ("seen", ada, "purchase", None, [], None),
        ("e-2", ada, "diagnosis", 2, [], None),
        ("e-3", bob, "purchase", None, [], None),
        ("e-5", ada, "purchase", 0, [], 'a "quoted" word'),
    ]


def test_jsonl_rejects_unreadable_lines_and_a_rerun_only_skips(app, runner, people, tmp_path):
    good = [{"customerEmail": "ada@example.com", "touchpointKey": "web.checkout",
             "occurredAt": "2026-06-02T08:00:00+01:00", "painPoints": ["Slow page"], "externalId": "j-1"},
            {"customerExternalId": "SHOP-1", "touchpointKey": "store.repair-desk", "occurredAt": "2026-06-03T08:00:00Z",
             "emotion": "-2", "note": "waited an hour", "externalId": "j-2"},
            {"customerId": str(people["bob"]), "touchpointKey": "web.checkout", "occurredAt": "2026-06-04T08:00:00Z",
             "emotion": 1, "note": None, "externalId": "j-3"}]
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join([
        json.dumps(good[0]),                                                                       # 1
        '{"customerEmail": "ada@example.com", "touchpointKey": ',                                  # 2
        "[1, 2]",                                                                                  # 3
        json.dumps(good[1]),                                                                       # 4
        "",                                                                                        # 5
        json.dumps({**good[0], "externalId": "j-9", "colour": "red"}),                             # 6
        json.dumps({**good[0], "externalId": "j-10", "painPoints": 7}),                           # 7
        json.dumps({**good[0], "externalId": "j-11", "occurredAt": "soon"}),                       # 8
        json.dumps({**good[0], "externalId": "j-12", "emotion": True}),                            # 9
        json.dumps({**good[0], "externalId": "j-13", "caseId": "nope"}),                           # 10
        json.dumps({**good[0], "externalId": "j-14", "note": "nul \u0000 here"}),                  # 11
        json.dumps({**good[0], "externalId": "j-1", "emotion": 2}),                                # 12
        json.dumps(good[2]),                                                                       # 13
    ]) + "\n")

    first = run_import(runner, path, 1)

    rejections = [
        "line 2: json: INVALID Not valid JSON: Expecting value at column 55.",
        "line 3: json: INVALID Each line is one JSON object.",
        ("line 6: colour: INVALID Unknown field; the fields are customerId, customerExternalId, customerEmail, "
         "touchpointKey, occurredAt, emotion, painPoints, note, externalId, caseId."),
        "line 7: painPoints: INVALID painPoints is a list of strings.",
        "line 8: occurredAt: INVALID 'soon' is not an ISO-8601 date and time.",
        "line 9: emotion: INVALID emotion is a whole number from -2 to 2, not True.",
        "line 10: caseId: INVALID Expected the id of a Case.",
        "line 11: note: INVALID Not valid UTF-8 text, or a NUL character.",
        "line 12: externalId: IDEMPOTENCY_MISMATCH This externalId was recorded with a different payload.",
    ]
    assert first.stdout == "\n".join(["3 recorded, 0 skipped (duplicates), 9 rejected", *rejections]) + "\n"
    recorded = interactions(app)
    ada, bob = people["ada"], people["bob"]
    assert recorded == [
        ("seen", ada, "purchase", None, [], None),
        ("j-1", ada, "purchase", None, ["slow-page"], None),
        ("j-2", ada, "diagnosis", -2, [], "waited an hour"),
        ("j-3", bob, "purchase", 1, [], None),
    ]

    again = run_import(runner, path, 1)
    assert again.stdout == "\n".join(["0 recorded, 3 skipped (duplicates), 9 rejected", *rejections]) + "\n"
    assert interactions(app) == recorded

    clean = tmp_path / "clean.jsonl"
    clean.write_text("".join(json.dumps(row) + "\n" for row in good))
    assert run_import(runner, clean, 0).stdout == "0 recorded, 3 skipped (duplicates), 0 rejected\n"


def test_2500_rows_go_in_three_batches_and_only_50_rejections_are_listed(app, runner, people, tmp_path,
                                                                        count_statements):
    path = tmp_path / "big.csv"
    with path.open("w") as out:
        out.write("customerExternalId,customerEmail,touchpointKey,occurredAt,externalId\n")
        for i in range(2500):
            who = ",bob@example.com" if i % 2 else "SHOP-1,"
            touchpoint = "gone" if i % 40 == 0 else "web.checkout"  # 63 bad rows, on lines 2, 42, 82, ...
            out.write(f"{who},{touchpoint},2026-05-{1 + i % 28:02d}T{i % 24:02d}:{i % 60:02d}:00Z,big-{i}\n")

    with count_statements() as statements:
        result = run_import(runner, path, 1)

    lines = result.stdout.splitlines()
    assert lines[0] == "2437 recorded, 0 skipped (duplicates), 63 rejected"
    assert lines[1:51] == [f"line {2 + 40 * n}: touchpointKey: NOT_FOUND No touchpoint has the key 'gone'."
                           for n in range(50)]
    assert lines[51:] == ["... and 13 more"]
    inserts = [s for s in statements if s.lstrip().upper().startswith("INSERT INTO INTERACTION ")]
    lookups = [s for s in statements if "customer.external_id IN" in s]
    assert (len(inserts), len(lookups)) == (3, 3)
    with app.app_context():
        from crm.sessions import get_session
        assert get_session().scalar(select(func.count()).select_from(Interaction)) == 1 + 2437


def test_an_interrupted_import_keeps_the_batches_before_it(app, people, tmp_path):
    from crm.sessions import get_session
    from journeys.interactions import importer
    path = tmp_path / "five.jsonl"
    path.write_text("".join(json.dumps({"customerExternalId": "SHOP-1", "touchpointKey": "web.checkout",
                                        "occurredAt": f"2026-06-0{i + 2}T08:00:00Z", "externalId": f"k-{i}"}) + "\n"
                            for i in range(5)))

    def interrupt(_bytes_read):  # called after each committed batch: Ctrl-C after the first one
        raise KeyboardInterrupt

    summary = importer.ImportSummary()
    with app.app_context(), pytest.raises(KeyboardInterrupt):
        importer.import_interactions(get_session(), path, summary=summary, progress=interrupt, batch_size=2)
    assert (summary.recorded, summary.batches, summary.last_line) == (2, 1, 2)
    assert [row[0] for row in interactions(app)] == ["seen", "k-0", "k-1"]

    with app.app_context():
        again = importer.import_interactions(get_session(), path, batch_size=2)
    assert (again.recorded, again.duplicates, again.rejected, again.batches) == (3, 2, 0, 3)
    assert [row[0] for row in interactions(app)] == ["seen", "k-0", "k-1", "k-2", "k-3", "k-4"]


def test_a_file_that_cannot_be_imported_is_refused_whole(app, runner, people, tmp_path):
    wrong = tmp_path / "interactions.xlsx"
    wrong.write_text("whatever")
    result = runner.invoke(args=["import", "interactions", str(wrong)])
    assert result.exit_code == 2
    assert "Invalid value for FILE: Expected a .csv or .jsonl file, got 'interactions.xlsx'." in result.stderr

    cases = [("customer,touchpointKey,occurredAt\n", ("Unknown column(s) 'customer'; the columns are "
              "customerId, customerExternalId, customerEmail, touchpointKey, occurredAt, emotion, painPoints, note, "
              "externalId, caseId.")),
             ("customerEmail,occurredAt\n", "The header lacks the column(s) touchpointKey."),
             ("", "The file is empty: a CSV file starts with a header row.")]
    for content, message in cases:
        path = tmp_path / "bad.csv"
        path.write_text(content)
        result = runner.invoke(args=["import", "interactions", str(path)])
        assert (result.exit_code, result.stdout) == (2, ""), content
        assert f"Invalid value for FILE: {message}" in result.stderr, result.stderr
    assert len(interactions(app)) == 1
