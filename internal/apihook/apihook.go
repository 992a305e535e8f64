// Package apihook lets package pushclient build a businessworker.API over a
// linker of its own without businessworker exporting a constructor that
// takes an internal type. businessworker sets NewAPI in its init, which runs
// before any package that imports businessworker (pushclient does) can call
// it.
package apihook

import "github.com/gatewayworker/gatewayworker/internal/linker"

// NewAPI returns a *businessworker.API over l (as an any: this package
// cannot import businessworker). Set by businessworker's init.
var NewAPI func(l *linker.Linker) any
