# Sourced by scripts/first-deploy, scripts/deploy, scripts/setup-azure and scripts/setup-jamf: how a step runs,
# and how a dry run shows it. A dry run prints every command on stderr as
#
#   $ command arg arg -> <placeholder>
#
# and runs none: "-> <placeholder>" names what the command produces (an id, an ARN), and the
# placeholder stands for that value in every later command. Lookups ("does it exist already?")
# answer "nothing" in a dry run, so it shows everything a first deploy does.
#
# Needs `dry_run` (true/false) set by the sourcing script.

# The command as one line: words with shell-special characters single-quoted.
show() {
    local out='$' word
    for word in "$@"; do
        if [[ "$word" =~ ^[A-Za-z0-9_./:=@,\<\>+%-]+$ ]]; then
            out+=" $word"
        else
            out+=" '${word//\'/\'\\\'\'}'"
        fi
    done
    printf '%s\n' "$out"
}

# run PRODUCES COMMAND...: runs COMMAND (its output is the step's result); in a dry run prints it
# and outputs PRODUCES instead.
run() {
    local produces="$1"
    shift
    if $dry_run; then
        if [[ -n "$produces" ]]; then
            printf '%s -> %s\n' "$(show "$@")" "$produces" >&2
        else
            show "$@" >&2
        fi
        [[ -z "$produces" ]] || printf '%s\n' "$produces"
    else
        "$@"
    fi
}

# lookup COMMAND...: a read that finds an existing resource (empty output: none); a dry run
# prints it and finds nothing.
lookup() {
    if $dry_run; then
        printf '%s -> (nothing on a first deploy)\n' "$(show "$@")" >&2
    else
        "$@"
    fi
}

# stored_secret_state SECRET_ID: "ARN filled", "ARN empty" (the secret exists but holds no
# current value: a run stopped between creating it and filling it), or nothing when there is no
# such secret. Reads the secret's versions, never its value; a dry run finds nothing.
stored_secret_state() {
    local arn current
    if $dry_run; then
        lookup aws secretsmanager describe-secret --secret-id "$1" --query ARN --output text
        return
    fi
    arn="$(aws secretsmanager describe-secret --secret-id "$1" --query ARN --output text 2>/dev/null || true)"
    [[ -n "$arn" ]] || return 0
    current="$(aws secretsmanager list-secret-version-ids --secret-id "$1" \
        --query "length(Versions[?contains(VersionStages, 'AWSCURRENT')])" --output text)" ||
        die "could not read the versions of $1"
    if [[ "$current" == 0 ]]; then
        echo "$arn empty"
    else
        echo "$arn filled"
    fi
}

# note TEXT: a line for the operator (stderr), in a dry run too.
note() {
    printf '# %s\n' "$*" >&2
}

# die TEXT: stops with TEXT.
die() {
    printf '%s: %s\n' "${0##*/}" "$*" >&2
    exit 1
}
