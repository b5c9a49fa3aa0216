"""Lists count their matches only so far (LIST_COUNT_UP_TO), so that polling a queue of
hundreds of thousands of cases does not count them all; past it, a list says "at least"."""

from __future__ import annotations

import pytest

CASES = "/api/v1/cases"


@pytest.fixture
def app(make_app):
    return make_app(LIST_COUNT_UP_TO=3)


def page_of(client, headers, path: str, **query) -> dict:
    response = client.get(path, query_string=query, headers=headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


@pytest.fixture
def five_cases(client, adviser):
    made = []
    for n in range(5):
        response = client.post(CASES, json={"subject": f"Asia {n}"}, headers=adviser)
        assert response.status_code == 201, response.get_json()
        made.append(response.get_json()["id"])
    return list(reversed(made))


def test_a_list_longer_than_the_count_says_at_least_and_still_pages_on(client, adviser, five_cases):
    first = page_of(client, adviser, CASES, page=1, page_size=2)

    assert (first["total"], first["total_exact"]) == (3, False)
    assert [item["id"] for item in first["items"]] == five_cases[:2]
    # The count reaches the end of the page asked for, so the pager can go past the first count.
    second = page_of(client, adviser, CASES, page=2, page_size=2)
    assert (second["total"], second["total_exact"]) == (4, False)
    assert [item["id"] for item in second["items"]] == five_cases[2:4]
    last = page_of(client, adviser, CASES, page=3, page_size=2)
    assert (last["total"], last["total_exact"]) == (5, True)
    assert [item["id"] for item in last["items"]] == five_cases[4:]


def test_a_list_within_the_count_has_its_exact_total(client, adviser, five_cases):
    narrowed = page_of(client, adviser, CASES, status="closed")

    assert (narrowed["total"], narrowed["total_exact"], narrowed["items"]) == (0, True, [])


def test_a_list_of_exactly_the_count_is_exact(client, adviser):
    for n in range(3):
        assert client.post(CASES, json={"subject": f"Asia {n}"}, headers=adviser).status_code == 201

    first = page_of(client, adviser, CASES, page=1, page_size=1)

    assert (first["total"], first["total_exact"]) == (3, True)


def test_every_list_counts_the_same_way(client, admin, five_cases):
    # The audit log of this test holds far more than three entries (sign-ins, five cases made).
    log = page_of(client, admin, "/api/v1/audit", page=1, page_size=1)

    assert (log["total"], log["total_exact"]) == (3, False)
    assert len(log["items"]) == 1
