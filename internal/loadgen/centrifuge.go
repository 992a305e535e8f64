package loadgen

import (
	"bytes"
	"fmt"
	"strconv"
	"time"
)

// The minimal subset of centrifuge's JSON client protocol (v2) that the
// group-chat workload needs:
//
//	-> {"id":1,"connect":{}}
//	-> {"id":2,"subscribe":{"channel":"chat"}}
//	<- {"id":1,"connect":{...}}   <- {"id":2,"subscribe":{...}}
//	-> {"id":N,"publish":{"channel":"chat","data":"<payload>"}}
//	<- {"push":{"channel":"chat","pub":{"data":"<payload>",...}}}
//	<- {}                          (ping; answered with {})
//
// Several commands or replies may share one frame, one JSON object a line.

var (
	centrifugeData  = []byte(`"data":"`)
	centrifugePush  = []byte(`"push":`)
	centrifugeError = []byte(`"error":`)
	centrifugeSubID = []byte(`"id":2,`)
	centrifugePing  = []byte(`{}`)
)

// centrifugeHandshake sends connect and subscribe and waits for the
// subscribe reply.
func centrifugeHandshake(c *client, channel string, timeout time.Duration) error {
	cmd := []byte(`{"id":1,"connect":{}}` + "\n" + `{"id":2,"subscribe":{"channel":` + strconv.Quote(channel) + `}}`)
	if err := c.writeFrame(opText, cmd); err != nil {
		return fmt.Errorf("loadgen: centrifuge connect: %w", err)
	}
	c.cmds = 2
	if err := c.setReadDeadline(timeout); err != nil {
		return fmt.Errorf("loadgen: centrifuge connect: %w", err)
	}
	defer func() { _ = c.setReadDeadline(0) }()
	for {
		op, p, err := c.fr.next()
		if err != nil {
			return fmt.Errorf("loadgen: centrifuge subscribe: %w", err)
		}
		if op != opText && op != opBinary {
			continue
		}
		for line := range bytes.Lines(p) {
			line = bytes.TrimSpace(line)
			if bytes.Contains(line, centrifugeError) {
				return fmt.Errorf("%w: centrifuge replied %s", ErrBadPayload, line)
			}
			if bytes.HasPrefix(line[min(1, len(line)):], centrifugeSubID) {
				return nil
			}
		}
	}
}

// appendCentrifugePublish appends a publish command carrying m.
func appendCentrifugePublish(dst []byte, id uint64, channel string, m Message, size int) []byte {
	dst = append(dst, `{"id":`...)
	dst = strconv.AppendUint(dst, id, 10)
	dst = append(dst, `,"publish":{"channel":`...)
	dst = strconv.AppendQuote(dst, channel)
	dst = append(dst, `,"data":"`...)
	dst = AppendPayload(dst, m, size)
	return append(dst, `"}}`...)
}

// centrifugePayload returns the data string of a push publication line, or
// nil when the line is not one.
func centrifugePayload(line []byte) []byte {
	if !bytes.Contains(line, centrifugePush) {
		return nil
	}
	i := bytes.Index(line, centrifugeData)
	if i < 0 {
		return nil
	}
	rest := line[i+len(centrifugeData):]
	j := bytes.IndexByte(rest, '"')
	if j < 0 {
		return nil
	}
	return rest[:j]
}

// handleCentrifuge processes one frame of replies and pushes.
func (c *client) handleCentrifuge(p []byte) error {
	for len(p) > 0 {
		var line []byte
		if i := bytes.IndexByte(p, '\n'); i >= 0 {
			line, p = p[:i], p[i+1:]
		} else {
			line, p = p, nil
		}
		switch {
		case bytes.Equal(line, centrifugePing):
			if err := c.writeFrame(opText, centrifugePing); err != nil {
				return err
			}
		case bytes.Contains(line, centrifugeError):
			c.bad.Add(1)
		default:
			if data := centrifugePayload(line); data != nil {
				c.deliver(data)
			}
		}
	}
	return nil
}
