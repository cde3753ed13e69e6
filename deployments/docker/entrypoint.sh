#!/bin/sh
# Entrypoint of the DALRN image. Secrets arrive as files (/run/secrets/...): for every
# variable NAME_FILE in the environment, NAME is exported with that file's content (a
# trailing newline dropped), unless NAME is already set. Then the command runs.
set -eu
for name in $(env | sed -n 's/^\([A-Z][A-Z0-9_]*\)_FILE=.*/\1/p'); do
    eval "file=\${${name}_FILE}"
    eval "already=\${${name}:-}"
    if [ -z "$already" ]; then
        if [ ! -r "$file" ]; then
            echo "entrypoint: ${name}_FILE names $file, which cannot be read" >&2
            exit 64
        fi
        export "$name=$(cat "$file")"
    fi
done
exec "$@"
