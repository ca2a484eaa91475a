# autotel: otel-agent-source-container-clone for Nginx (the app's image).
# Run as: /bin/sh -c "<this script>" -- CONF_DIR
# CONF_DIR (the folder of spec.nginx.configFile) arrives as $1, so the shell
# never parses it.
set -eu
conf_dir="$1"
staged=/opt/opentelemetry-webserver/source-conf

cp -r "$conf_dir"/* "$staged"

# The module is built per Nginx version and only the app's image knows its
# version: `nginx -v` prints "nginx version: nginx/1.27.3" on stderr.
version=$( { nginx -v; } 2>&1 )
printf '%s\n' "${version##*/}" > "$staged/version.txt"
