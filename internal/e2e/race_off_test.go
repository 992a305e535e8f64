//go:build !race

package e2e

// raceFactor scales memory bounds: 1 without the race detector.
const raceFactor = 1
