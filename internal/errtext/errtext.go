// Package errtext strips the package prefixes of this module's internal
// packages from an error's text, so that an exported package can wrap the
// error under its own prefix and the text has only one ("businessworker:
// invalid config: Registers or Source required", not "businessworker:
// invalid config: linker: invalid config: Registers or Source required").
package errtext

import "strings"

// internal are the prefixes of the internal packages' errors.
var internal = []string{"linker", "discovery", "iplimit", "tokenauth", "tlsconf", "clientaddr", "proxyproto", "wsconn"}

// Strip returns err's text without the leading "pkg: " prefixes of internal
// packages, and without a leading "invalid config: " they carried (the
// caller's own sentinel says it).
func Strip(err error) string {
	s := err.Error()
	for {
		trimmed := false
		for _, p := range internal {
			if rest, ok := strings.CutPrefix(s, p+": "); ok {
				s = strings.TrimPrefix(rest, "invalid config: ")
				trimmed = true
			}
		}
		if !trimmed {
			return s
		}
	}
}
