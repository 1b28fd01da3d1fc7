"""The SensorThings API with frost-sta-client, the Python client FROST users script with:
create (deep insert), query with $filter, $expand, $orderby and paging through
@iot.nextLink, and delete. The client knows only Basic authentication; a small AuthHandler
sends the API token as a bearer token instead."""

import geojson
import pytest
import requests

import frost_sta_client as fsc

from stadtkern_server import Server


class BearerAuth(requests.auth.AuthBase):
    def __init__(self, token):
        self.token = token

    def __call__(self, r):
        r.headers["Authorization"] = f"Bearer {self.token}"
        return r


class TokenAuthHandler(fsc.AuthHandler):
    def __init__(self, token):
        super().__init__()
        self.token = token

    def add_auth_header(self):
        return BearerAuth(self.token)


@pytest.fixture(scope="module")
def server():
    s = Server()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def service(server):
    return fsc.SensorThingsService(server.sta, auth_handler=TokenAuthHandler(server.token))


def thing_with_datastream(name, n_observations):
    thing = fsc.Thing(name=name, description="Zählstelle", properties={"bezirk": "Innenstadt-West"})
    thing.locations = [fsc.Location(name=f"{name} Ort", description="Standort",
                                    encoding_type="application/geo+json",
                                    location=geojson.Point((7.4653, 51.5136)))]
    ds = fsc.Datastream(
        name=f"{name} Radverkehr", description="Räder pro Stunde",
        observation_type="http://www.opengis.net/def/observationType/OGC-OM/2.0/OM_CountObservation",
        unit_of_measurement=fsc.UnitOfMeasurement(name="Anzahl", symbol="1", definition="ucum:1"),
        sensor=fsc.Sensor(name="Zählschleife", description="Induktion", encoding_type="application/pdf",
                          metadata="https://example.org/schleife.pdf"),
        observed_property=fsc.ObservedProperty(name="Radverkehr", definition="https://example.org/rad",
                                               description="Anzahl Räder"),
    )
    ds.observations = [fsc.Observation(result=i, phenomenon_time=f"2026-11-01T{i % 24:02}:{i // 24:02}:00Z")
                       for i in range(n_observations)]
    thing.datastreams = [ds]
    return thing


def test_create_query_page_and_delete(service, server):
    # A space in the name: requests form-encodes it as '+' in the $filter, which must still match.
    created = thing_with_datastream("Radzähler Wall", 250)
    service.create(created)
    assert created.id is not None

    found = service.things().query().filter("name eq 'Radzähler Wall'").expand("Datastreams,Locations").list()
    things = list(found)
    assert [t.name for t in things] == ["Radzähler Wall"]
    assert things[0].properties == {"bezirk": "Innenstadt-West"}
    ds = things[0].datastreams.entities[0]
    assert ds.unit_of_measurement.symbol == "1"

    # Paging: 250 Observations, 40 per page, followed through @iot.nextLink by the client.
    obs = service.observations().query().filter(f"Datastream/id eq {ds.id}").orderby("result", "ASC").top(40).list()
    results = [o.result for o in obs]
    assert results == list(range(250))

    big = service.observations().query().filter(f"Datastream/id eq {ds.id} and result ge 200").count().list()
    assert big.count == 50

    service.delete(things[0])
    assert list(service.things().query().filter("name eq 'Radzähler Wall'").list()) == []
    # The Datastream and its Observations went with the Thing (the spec's cascade).
    status = requests.get(f"{server.sta}/Datastreams({ds.id})").status_code
    assert status == 404
