package pushclient

import "errors"

// ErrInvalidConfig: New got an invalid Config.
var ErrInvalidConfig = errors.New("pushclient: invalid config")
