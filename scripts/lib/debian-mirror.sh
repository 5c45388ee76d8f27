# Sourced by scripts that debootstrap Debian (make-test-root, make-dracut-root): the mirror is
# the one this machine's apt already uses, so no script names a host of its own.
#
# debian_mirror APT_DIR SUITE: the URI of the first `deb` source in APT_DIR (/etc/apt) for
# SUITE exactly (not SUITE-updates) with the component main, in the order apt reads them:
# sources.list, then sources.list.d/*.list and *.sources by name (sources.list(5)). Both the
# one-line format and deb822 stanzas are read; deb822 stanzas with `Enabled: no` are not.
# Only http, https, ftp and file URIs, the ones debootstrap can fetch from. Prints nothing
# when there is none.
debian_mirror() {
  local apt=$1 suite=$2 file uri
  local files=()
  [ -f "$apt/sources.list" ] && files+=("$apt/sources.list")
  for file in "$apt"/sources.list.d/*; do
    case $file in *.list | *.sources) [ -f "$file" ] && files+=("$file") ;; esac
  done
  for file in "${files[@]}"; do
    case $file in
      *.sources)
        # deb822: stanzas separated by blank lines, `Field: value`, continuation lines
        # start with a blank, `#` lines are comments; field names are case-insensitive.
        uri=$(awk -v suite="$suite" '
          function has(list, word,   words, n, k) {
            n = split(list, words, /[ \t]+/)
            for (k = 1; k <= n; k++) if (words[k] == word) return 1
            return 0
          }
          BEGIN { RS = ""; FS = "\n" }
          {
            split("", field); key = ""
            for (n = 1; n <= NF; n++) {
              if ($n ~ /^#/) continue
              if ($n ~ /^[ \t]/ && key != "") { field[key] = field[key] " " $n; continue }
              colon = index($n, ":")
              if (colon == 0) continue
              key = tolower(substr($n, 1, colon - 1))
              field[key] = substr($n, colon + 1)
            }
            if (field["enabled"] ~ /^[ \t]*no[ \t]*$/) next
            if (!has(field["types"], "deb") || !has(field["suites"], suite) || !has(field["components"], "main")) next
            n = split(field["uris"], uris, /[ \t]+/)
            for (k = 1; k <= n; k++) if (uris[k] ~ /^(https?|ftp|file):/) { print uris[k]; exit }
          }' "$file")
        ;;
      *)
        # One line per source: deb [ options ] URI SUITE COMPONENT...; `#` starts a comment.
        uri=$(awk -v suite="$suite" '
          { sub(/#.*/, "") }
          $1 != "deb" { next }
          {
            i = 2
            if ($i ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ }
            if ($i !~ /^(https?|ftp|file):/ || $(i + 1) != suite) next
            for (k = i + 2; k <= NF; k++) if ($k == "main") { print $i; exit }
          }' "$file")
        ;;
    esac
    if [ -n "$uri" ]; then
      echo "$uri"
      return 0
    fi
  done
}
