#!/bin/sh
# fake-vendor: a test double for the vendor CLIs' paste-code login, installed in
# localhost/authctl-test-vendor:latest as /usr/local/bin/fake-vendor (busybox sh).
#
#   fake-vendor <claude|codex|gemini|gh> [variant]
#
# Flow (variant "ok", the default):
#   1. prints a banner and "Open https://example.invalid/oauth/authorize?...",
#   2. prints the prompt "Paste code here: " (no newline) and reads ONE line from stdin
#      (a trailing \r is stripped, so "CODE\r" from a pty or "CODE\n" from a pipe work;
#      on a tty, echo is off while reading unless FAKE_VENDOR_TTY_ECHO=1),
#   3. writes the credential file in the vendor's real format, mode 0600, replacing
#      whatever was at that path (file, symlink, fifo), creating parent dirs,
#   4. prints "Login successful." and exits 0.
# The pasted code is the token material and is never echoed to stdout/stderr:
#   claude  $HOME/.claude/.credentials.json  accessToken  sk-ant-oat01-<code>
#                                            refreshToken sk-ant-ort01-<code>-r
#   codex   $HOME/.codex/auth.json           tokens.refresh_token rt_<code>;
#           tokens.access_token is a JWT whose payload has exp (now+10 days) and
#           "authctl_test_code": "<code>"
#   gemini  $HOME/.gemini/oauth_creds.json   access_token ya29.<code>
#                                            refresh_token 1//<code>-r
#   gh      $HOME/.config/gh/hosts.yml       oauth_token gho_<code> (twice)
# Like the real CLIs, CLAUDE_CONFIG_DIR, CODEX_HOME and GH_CONFIG_DIR override the dir.
#
# Variants:
#   ok          as above
#   instant     no prompt, no stdin read; code is "instant-token-0123456789"
#   badformat   valid JSON (YAML for gh) of the wrong shape: {"unexpected":true}
#   invalidjson "{not json" (for gh: "{not yaml: [")
#   symlink     credential path is a symlink to /etc/passwd
#   symlinkhost credential path is a symlink to /root/.ssh/id_rsa (a host-looking path)
#   fifo        credential path is a FIFO (mkfifo)
#   huge        credential path is a regular file of FAKE_VENDOR_HUGE_MB (100) MiB of zeros
#   nonzero     prompts, reads the code, writes nothing, exits 3
#   nofile      prompts, reads the code, writes nothing, says success, exits 0
# All variants but "nonzero" print "Login successful." and exit 0 (the CLI believes it
# worked; the host must judge the file). Usage errors exit 64; no code entered exits 2.

set -u

usage() {
    echo "usage: fake-vendor <claude|codex|gemini|gh> [ok|instant|badformat|invalidjson|symlink|symlinkhost|fifo|huge|nonzero|nofile]" >&2
    exit 64
}

[ $# -ge 1 ] && [ $# -le 2 ] || usage
vendor=$1
variant=${2:-ok}

home=${HOME:-/home/dev}
case "$vendor" in
    claude) name="Claude Code (fake)"; dir=${CLAUDE_CONFIG_DIR:-$home/.claude}; file=.credentials.json ;;
    codex)  name="Codex CLI (fake)";   dir=${CODEX_HOME:-$home/.codex};         file=auth.json ;;
    gemini) name="Gemini CLI (fake)";  dir=$home/.gemini;                       file=oauth_creds.json ;;
    gh)     name="GitHub CLI (fake)";  dir=${GH_CONFIG_DIR:-${XDG_CONFIG_HOME:-$home/.config}/gh}; file=hosts.yml ;;
    *) usage ;;
esac
case "$variant" in
    ok|instant|badformat|invalidjson|symlink|symlinkhost|fifo|huge|nonzero|nofile) ;;
    *) usage ;;
esac
path=$dir/$file

now_s=$(date +%s)
state=$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')

echo "Welcome to $name, an authctl test double."
echo

if [ "$variant" = instant ]; then
    code=instant-token-0123456789
else
    echo "Browser didn't open? Use the url below to sign in:"
    echo
    echo "Open https://example.invalid/oauth/authorize?code=true&client_id=fake-$vendor&response_type=code&state=$state"
    echo
    # On a tty, switch the line discipline's echo off while the code is typed so the
    # secret never shows up in the session output (FAKE_VENDOR_TTY_ECHO=1 keeps it on,
    # as real CLIs that draw the pasted code do).
    echo_off=0
    if [ -t 0 ] && [ -z "${FAKE_VENDOR_TTY_ECHO:-}" ] && stty -echo 2>/dev/null; then
        echo_off=1
        trap 'stty echo 2>/dev/null' EXIT
        trap 'exit 130' INT TERM HUP
    fi
    # Echo is off before the prompt appears, so a driver answering at once is not echoed.
    printf 'Paste code here: '
    code=
    if ! IFS= read -r code && [ -z "$code" ]; then
        echo
        echo "Error: no code entered (stdin closed)." >&2
        exit 2
    fi
    if [ "$echo_off" = 1 ]; then
        stty echo 2>/dev/null
        trap - EXIT INT TERM HUP
    fi
    cr=$(printf '\r')
    code=${code%"$cr"}
    echo
    if [ -z "$code" ]; then
        echo "Error: no code entered." >&2
        exit 2
    fi
fi

if [ "$variant" = nonzero ]; then
    echo "Login failed: the code was rejected (fake-vendor nonzero)." >&2
    exit 3
fi
if [ "$variant" = nofile ]; then
    echo "Login successful."
    exit 0
fi

# JSON string escaping for the code (backslash and double quote; tests should use
# plain [A-Za-z0-9._-] canaries anyway).
jcode=$(printf '%s' "$code" | sed 's/[\\"]/\\&/g')

b64url() {
    printf '%s' "$1" | base64 | tr -d '\n=' | tr '+/' '-_'
}

write_ok() {
    case "$vendor" in
        claude)
            printf '{"claudeAiOauth":{"accessToken":"sk-ant-oat01-%s","refreshToken":"sk-ant-ort01-%s-r","expiresAt":%s000,"scopes":["user:inference","user:profile"],"subscriptionType":"pro"}}\n' \
                "$jcode" "$jcode" "$((now_s + 8 * 3600))"
            ;;
        codex)
            hdr=$(b64url '{"alg":"RS256","typ":"JWT","kid":"fake-authctl"}')
            sig=$(b64url 'fake-signature-not-valid')
            idp=$(b64url "{\"iss\":\"https://auth.openai.com\",\"aud\":[\"app_fake\"],\"sub\":\"user-test\",\"email\":\"dev@example.invalid\",\"iat\":$now_s,\"exp\":$((now_s + 3600)),\"https://api.openai.com/auth\":{\"chatgpt_account_id\":\"acct-test\",\"chatgpt_plan_type\":\"plus\"}}")
            atp=$(b64url "{\"iss\":\"https://auth.openai.com\",\"aud\":[\"https://api.openai.com/v1\"],\"sub\":\"user-test\",\"iat\":$now_s,\"exp\":$((now_s + 10 * 86400)),\"https://api.openai.com/auth\":{\"chatgpt_account_id\":\"acct-test\",\"chatgpt_plan_type\":\"plus\"},\"authctl_test_code\":\"$jcode\"}")
            printf '{"OPENAI_API_KEY":null,"tokens":{"id_token":"%s.%s.%s","access_token":"%s.%s.%s","refresh_token":"rt_%s","account_id":"acct-test"},"last_refresh":"%s"}\n' \
                "$hdr" "$idp" "$sig" "$hdr" "$atp" "$sig" "$jcode" "$(date -u +%Y-%m-%dT%H:%M:%S.000000Z)"
            ;;
        gemini)
            printf '{"access_token":"ya29.%s","refresh_token":"1//%s-r","scope":"https://www.googleapis.com/auth/cloud-platform","token_type":"Bearer","id_token":"x.y.z","expiry_date":%s000}\n' \
                "$jcode" "$jcode" "$((now_s + 3600))"
            ;;
        gh)
            # gh writes the token unquoted; quote only if the code is not plain.
            case "$code" in
                *[!A-Za-z0-9._-]*) ytok="\"gho_$jcode\"" ;;
                *) ytok="gho_$code" ;;
            esac
            printf 'github.com:\n    users:\n        octo:\n            oauth_token: %s\n    oauth_token: %s\n    git_protocol: https\n    user: octo\n' \
                "$ytok" "$ytok"
            ;;
    esac
}

umask 077
mkdir -p "$dir" || { echo "Error: cannot create $dir" >&2; exit 1; }
# Replace whatever is there (a leftover symlink or fifo must not be written through).
rm -f "$path" || { echo "Error: cannot replace $path" >&2; exit 1; }
tmp=$dir/.$file.fake-vendor.$$

case "$variant" in
    ok|instant)
        write_ok >"$tmp" && chmod 600 "$tmp" && mv -f "$tmp" "$path" ;;
    badformat)
        if [ "$vendor" = gh ]; then printf 'unexpected: true\n'; else printf '{"unexpected":true}\n'; fi >"$tmp" \
            && chmod 600 "$tmp" && mv -f "$tmp" "$path" ;;
    invalidjson)
        if [ "$vendor" = gh ]; then printf '{not yaml: [\n'; else printf '{not json'; fi >"$tmp" \
            && chmod 600 "$tmp" && mv -f "$tmp" "$path" ;;
    symlink)
        ln -s /etc/passwd "$path" ;;
    symlinkhost)
        ln -s /root/.ssh/id_rsa "$path" ;;
    fifo)
        mkfifo -m 600 "$path" ;;
    huge)
        head -c "$(( ${FAKE_VENDOR_HUGE_MB:-100} * 1048576 ))" /dev/zero >"$tmp" \
            && chmod 600 "$tmp" && mv -f "$tmp" "$path" ;;
esac
rc=$?
if [ $rc -ne 0 ]; then
    rm -f "$tmp"
    echo "Error: could not write credentials to $path" >&2
    exit 1
fi

echo "Login successful."
exit 0
