# autotel: otel-agent-attach-apache (Apache HTTPD module image).
# Run as: /bin/sh -c "<this script>" -- CONF_DIR
# CONF_DIR (spec.apacheHttpd.configPath) arrives as $1, so the shell never
# parses it. The module configuration comes in OTEL_APACHE_AGENT_CONF, whose
# $(VAR) references the kubelet has already expanded (the Instrumentation's
# env, OTEL_POD_IP and OTEL_NODE_IP come before it in this container).
set -eu
conf_dir="$1"
agent=/opt/opentelemetry-webserver/agent
staged=/opt/opentelemetry-webserver/source-conf

cp -r /opt/opentelemetry/* "$agent"

# The SDK's log4cxx template names its log folder with a placeholder.
log_dir=$(printf '%s' "$agent/logs" | sed 's,/,\\/,g')
sed "s/__agent_log_dir__/$log_dir/g" "$agent/conf/opentelemetry_sdk_log4cxx.xml.template" \
  > "$agent/conf/opentelemetry_sdk_log4cxx.xml"

# The file name keeps upstream's spelling; images and docs use it.
printf '%s\n' "$OTEL_APACHE_AGENT_CONF" > "$staged/opentemetry_agent.conf"
sed -i "s/<<SID-PLACEHOLDER>>/$APACHE_SERVICE_INSTANCE_ID/g" "$staged/opentemetry_agent.conf"

# The app mounts the staged folder over CONF_DIR, so the Include names it there.
printf '\nInclude %s/opentemetry_agent.conf\n' "$conf_dir" >> "$staged/httpd.conf"
