"""The street-lighting astronomical clock against an independent implementation: sunrise,
sunset and civil twilight at the city's coordinates for every day of a year, compared with
the astral library (NOAA solar equations), must agree to the minute."""

import datetime

import pytest
from astral import Observer
from astral.sun import dawn, dusk, sunrise, sunset

from stadtkern_server import Server

# The default city (Dortmund, Friedensplatz), as in the default configuration.
LAT, LON = 51.5136, 7.4653


@pytest.fixture(scope="module")
def server():
    s = Server()
    yield s
    s.stop()


def parse(s):
    return datetime.datetime.fromisoformat(s.replace("Z", "+00:00"))


def test_a_year_of_sun_times_agrees_with_astral_to_the_minute(server):
    status, days = server.request(
        "GET", server.base + "/api/v1/lighting/sun?from=2027-01-01&days=365", token=False)
    assert status == 200
    assert len(days) == 365
    observer = Observer(LAT, LON)
    worst = 0.0
    for d in days:
        date = datetime.date.fromisoformat(d["date"])
        reference = {
            "civil_dawn": dawn(observer, date),
            "sunrise": sunrise(observer, date),
            "sunset": sunset(observer, date),
            "civil_dusk": dusk(observer, date),
        }
        for key, ref in reference.items():
            diff = abs((parse(d[key]) - ref).total_seconds())
            worst = max(worst, diff)
            assert diff <= 60, f"{date} {key}: {d[key]} vs {ref.isoformat()}"
    print(f"largest difference over the year: {worst:.0f} s")
