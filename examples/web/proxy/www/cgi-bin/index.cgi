#!/bin/sh
# busybox httpd runs cgi-bin/index.cgi for a directory without index.html (and has no proxy_pass):
# forward the request to the app service, as nginx's `proxy_pass http://app:3000;` does.
printf 'Content-Type: text/plain\r\nX-Proxied-By: slipway-example-proxy\r\n\r\n'
timeout 5 wget -qO- "http://app:3000${REQUEST_URI:-/}" || echo "proxy: the app does not answer"
