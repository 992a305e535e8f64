//go:build race

package e2e

// raceFactor scales memory bounds: the race detector multiplies a
// process's memory (shadow memory, bigger allocations).
const raceFactor = 3
