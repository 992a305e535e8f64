package rendezvous

// fnv-1a 64-bit parameters.
const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

// HashString hashes a node name (e.g. a worker's linker id) into the
// 64-bit node value that Score and Pick take.
func HashString(s string) uint64 {
	h := uint64(fnvOffset)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= fnvPrime
	}
	return mix(h)
}

// Key combines two 64-bit halves (e.g. a client id's node id and
// connection sequence) into one key.
func Key(hi, lo uint64) uint64 {
	return mix(hi) ^ lo
}

// Score is the weight of node for key. It mixes both through a full
// avalanche finaliser so that scores of one key on different nodes are
// independent.
func Score(key, node uint64) uint64 {
	return mix(mix(key) ^ node)
}

// Pick returns the index in nodes of the node with the highest score for
// key, or -1 when nodes is empty. On a tie (equal node values) the lowest
// index wins.
func Pick(key uint64, nodes []uint64) int {
	best, bestScore := -1, uint64(0)
	k := mix(key)
	for i, n := range nodes {
		if s := mix(k ^ n); best < 0 || s > bestScore {
			best, bestScore = i, s
		}
	}
	return best
}

// mix is the 64-bit finaliser of MurmurHash3 (fmix64).
func mix(x uint64) uint64 {
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	x *= 0xc4ceb9fe1a85ec53
	x ^= x >> 33
	return x
}
