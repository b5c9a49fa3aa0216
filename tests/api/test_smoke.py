def test_health(client):
    assert client.get("/healthz").get_json() == {"status": "ok"}
