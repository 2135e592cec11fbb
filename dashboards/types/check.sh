#!/bin/sh
# Type-checks every dashboard against @grafana/schema's Dashboard type: each JSON file becomes an
# object literal assigned to a Dashboard, so wrong types, unknown keys and missing required
# fields are compile errors. Needs `npm ci` here first.
set -eu
cd "$(dirname "$0")"
rm -rf generated && mkdir generated
for f in ../grafana/dashboards/*.json; do
  name=$(basename "$f" .json)
  { echo "import type { Dashboard } from '@grafana/schema';"; printf 'export const dashboard: Dashboard = '; cat "$f"; echo ';'; } \
    >"generated/$name.ts"
done
node_modules/.bin/tsc -p tsconfig.json
echo "dashboards match @grafana/schema: $(ls generated | wc -l) checked"
