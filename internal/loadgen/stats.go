package loadgen

// Stats are the cumulative counters of one process, or of a run once Added.
type Stats struct {
	// Conns is the number of connections open now.
	Conns int `json:"conns"`
	// Senders is the number of sending connections asked for.
	Senders int `json:"senders"`
	// ConnectErrors counts failed dials and handshakes; ConnectError is the
	// first one's text.
	ConnectErrors uint64 `json:"connect_errors"`
	ConnectError  string `json:"connect_error,omitempty"`
	// Disconnects counts connections lost before the end.
	Disconnects uint64 `json:"disconnects"`
	// Sent counts every message sent, warmup included; SentMeasured only
	// those sent inside the measured window.
	Sent         uint64 `json:"sent"`
	SentMeasured uint64 `json:"sent_measured"`
	// Received counts every workload message read by any connection.
	Received uint64 `json:"received"`
	// Delivered counts unique deliveries of messages sent inside the window.
	Delivered uint64 `json:"delivered"`
	// Dups counts messages a receiver had already seen (or out of order).
	Dups uint64 `json:"dups"`
	// Gaps counts sequence numbers a receiver skipped (lost messages).
	Gaps uint64 `json:"gaps"`
	// Bad counts unparsable messages and server error replies.
	Bad uint64 `json:"bad"`
	// Stalls counts closed-loop sends whose echo did not come in time.
	Stalls uint64 `json:"stalls"`
	// WireBytes counts the frame bytes connections read (headers included,
	// compressed when compressed), warmup included.
	WireBytes uint64 `json:"wire_bytes"`
	// Receivers is the number of connections open when the window opened.
	Receivers uint64 `json:"receivers"`
	// SentByScope and ReceiversByScope split SentMeasured and Receivers by
	// scope (layout.go) when the run has more than one; Expected then sums
	// their products.
	SentByScope      []uint64 `json:"sent_by_scope,omitempty"`
	ReceiversByScope []uint64 `json:"receivers_by_scope,omitempty"`
	// Latency holds the delivery latencies of the measured messages, when
	// asked for.
	Latency *Histogram `json:"latency,omitempty"`
}

// Add adds the counters of o to s.
func (s *Stats) Add(o Stats) {
	s.Conns += o.Conns
	s.Senders += o.Senders
	s.ConnectErrors += o.ConnectErrors
	if s.ConnectError == "" {
		s.ConnectError = o.ConnectError
	}
	s.Disconnects += o.Disconnects
	s.Sent += o.Sent
	s.SentMeasured += o.SentMeasured
	s.Received += o.Received
	s.Delivered += o.Delivered
	s.Dups += o.Dups
	s.Gaps += o.Gaps
	s.Bad += o.Bad
	s.WireBytes += o.WireBytes
	s.Stalls += o.Stalls
	s.Receivers += o.Receivers
	s.SentByScope = addSlice(s.SentByScope, o.SentByScope)
	s.ReceiversByScope = addSlice(s.ReceiversByScope, o.ReceiversByScope)
	if o.Latency != nil {
		if s.Latency == nil {
			s.Latency = new(Histogram)
		}
		s.Latency.Merge(o.Latency)
	}
}

// Expected is the number of deliveries the run should have made: every
// measured message to every receiver of its scope.
func (s *Stats) Expected() uint64 {
	if len(s.SentByScope) == 0 && len(s.ReceiversByScope) == 0 {
		return s.SentMeasured * s.Receivers
	}
	var n uint64
	for i, sent := range s.SentByScope {
		if i < len(s.ReceiversByScope) {
			n += sent * s.ReceiversByScope[i]
		}
	}
	return n
}

// addSlice adds b to a element by element, growing a as needed.
func addSlice(a, b []uint64) []uint64 {
	if len(b) > len(a) {
		a = append(a, make([]uint64, len(b)-len(a))...)
	}
	for i, v := range b {
		a[i] += v
	}
	return a
}

// Loss is Expected minus Delivered; negative would mean extra deliveries.
func (s *Stats) Loss() int64 { return int64(s.Expected()) - int64(s.Delivered) }
