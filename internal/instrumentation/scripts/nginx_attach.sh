# autotel: otel-agent-attach-nginx (web server module image).
# Run as: /bin/sh -c "<this script>" -- CONF_FILE
# CONF_FILE (the base name of spec.nginx.configFile) arrives as $1, so the
# shell never parses it. The module configuration comes in
# OTEL_NGINX_AGENT_CONF, whose $(VAR) references the kubelet has already
# expanded (the Instrumentation's env, OTEL_POD_IP and OTEL_NODE_IP come
# before it in this container).
set -eu
conf_file="$1"
agent=/opt/opentelemetry-webserver/agent
staged=/opt/opentelemetry-webserver/source-conf

cp -r /opt/opentelemetry/* "$agent"
version=$(cat "$staged/version.txt")

log_dir=$(printf '%s' "$agent/logs" | sed 's,/,\\/,g')
sed "s,__agent_log_dir__,$log_dir,g" "$agent/conf/opentelemetry_sdk_log4cxx.xml.template" \
  > "$agent/conf/opentelemetry_sdk_log4cxx.xml"

printf '%s\n' "$OTEL_NGINX_AGENT_CONF" > "$staged/opentelemetry_agent.conf"
sed -i "s,<<SID-PLACEHOLDER>>,$OTEL_NGINX_SERVICE_INSTANCE_ID,g" "$staged/opentelemetry_agent.conf"

# Load the module first; Nginx hides the environment from its workers
# unless a top-level `env` directive names the variable.
sed -i "1s,^,load_module $agent/WebServerModule/Nginx/$version/ngx_http_opentelemetry_module.so;\n," "$staged/$conf_file"
sed -i "1s,^,env OTEL_RESOURCE_ATTRIBUTES;\n," "$staged/$conf_file"

mv "$staged/opentelemetry_agent.conf" "$staged/conf.d"
