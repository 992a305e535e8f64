// Package httpapi is the HTTP push API for programs not written in Go: a
// small JSON API over a push client's businessworker.API with the sends,
// membership and session commands and the common queries, behind the
// cluster secret as a bearer token. "gatewayworker api" serves it;
// docs/api.md lists the routes with curl examples.
package httpapi
