"""A camera's credentials: kept for connecting, removed wherever its source is shown or stored (events, the access
log, heartbeats, the summary, warnings and errors). Cameras carry them in the URL's user and password
(`http://door:PASSWORD@cam/stream`, `rtsp://...`) or in its query (`?user=admin&pwd=...`, as many IP cameras'
CGI streams do)."""
import base64
import urllib.parse

SECRET_PARAMETERS = frozenset(
    "user username usr login pwd password passwd pass pw secret token access_token auth key apikey api_key "
    "signature sig".split())
"""Query parameters whose values are credentials (compared without case)."""
HIDDEN = "***"


def shown_source(source):
    """`source` as it may be shown or stored: a URL's user and password taken out, the values of its query's
    credential parameters (SECRET_PARAMETERS) replaced by ***; anything that is not a URL as it is."""
    text = str(source)
    parts = urllib.parse.urlsplit(text)
    if not parts.scheme or not parts.netloc:
        return text
    netloc = parts.netloc.rsplit("@", 1)[1] if "@" in parts.netloc else parts.netloc
    query = "&".join(_hidden_parameter(item) for item in parts.query.split("&")) if parts.query else ""
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc, query=query))


def _hidden_parameter(item):
    name, equals, _ = item.partition("=")
    if equals and urllib.parse.unquote_plus(name).lower() in SECRET_PARAMETERS:
        return f"{name}={HIDDEN}"
    return item


def basic_authentication(url):
    """(the URL without its user and password, headers carrying them as HTTP Basic authentication). The query
    stays: a camera that takes its credentials there needs them."""
    parts = urllib.parse.urlsplit(url)
    headers = {"User-Agent": "facegate"}
    if parts.username is None:
        return url, headers
    credentials = f"{urllib.parse.unquote(parts.username)}:{urllib.parse.unquote(parts.password or '')}"
    headers["Authorization"] = "Basic " + base64.b64encode(credentials.encode("utf-8")).decode("ascii")
    return urllib.parse.urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1])), headers
