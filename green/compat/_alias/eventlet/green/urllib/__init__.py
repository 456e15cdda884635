"""eventlet.green.urllib: urllib.request (and urllib2) on green sockets; parse, error, response."""
