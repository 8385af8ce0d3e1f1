from tests.helpers import create_customer


def test_admin_creates_and_reads_a_customer(api):
    customer = create_customer(api, email="Ann@Example.com", firstName="Ann")
    data = api.data("query($id: ID!) { customer(id: $id) { email displayName } }", {"id": customer["id"]})
    assert data == {"customer": {"email": "ann@example.com", "displayName": "Ann"}}
