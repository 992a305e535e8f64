package httpapi

import "errors"

// ErrInvalidConfig: New got an invalid Config.
var ErrInvalidConfig = errors.New("httpapi: invalid config")
