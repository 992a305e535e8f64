package errtext

import (
	"errors"
	"fmt"
	"testing"
)

func TestStrip(t *testing.T) {
	for in, want := range map[string]string{
		"linker: invalid config: Registers or Source required": "Registers or Source required",
		"discovery: no register address":                       "no register address",
		"iplimit: rate must not be negative":                   "rate must not be negative",
		"gateway: client not found":                            "gateway: client not found",
		"plain":                                                "plain",
	} {
		if got := Strip(errors.New(in)); got != want {
			t.Errorf("Strip(%q) = %q, want %q", in, got, want)
		}
	}
	wrapped := fmt.Errorf("%w: negative value", errors.New("linker: invalid config"))
	if got := Strip(wrapped); got != "negative value" {
		t.Errorf("Strip(%q) = %q", wrapped, got)
	}
}
