package loadgen

import (
	"bytes"
	"encoding/json"
	"testing"
)

func TestCentrifugePublishIsJSON(t *testing.T) {
	m := Message{Sender: 1, Seq: 2, Sent: 3}
	cmd := appendCentrifugePublish(nil, 7, `ch"at`, m, 40)
	var got struct {
		ID      uint64 `json:"id"`
		Publish struct {
			Channel string `json:"channel"`
			Data    string `json:"data"`
		} `json:"publish"`
	}
	if err := json.Unmarshal(cmd, &got); err != nil {
		t.Fatalf("%s: %v", cmd, err)
	}
	if got.ID != 7 || got.Publish.Channel != `ch"at` || got.Publish.Data != string(AppendPayload(nil, m, 40)) {
		t.Fatalf("decoded %+v", got)
	}
}

func TestCentrifugePayload(t *testing.T) {
	p := AppendPayload(nil, Message{Sender: 5}, 32)
	for line, want := range map[string][]byte{
		`{"push":{"channel":"chat","pub":{"data":"` + string(p) + `","offset":3}}}`: p,
		`{"id":3,"publish":{}}`:                 nil,
		`{"push":{"channel":"chat","join":{}}}`: nil,
		`{"push":{"pub":{"data":"unterminated`:  nil,
	} {
		if got := centrifugePayload([]byte(line)); !bytes.Equal(got, want) {
			t.Errorf("%s: got %q, want %q", line, got, want)
		}
	}
}

func FuzzCentrifugePayload(f *testing.F) {
	f.Add([]byte(`{"push":{"channel":"chat","pub":{"data":"00000001000000020000000000000003"}}}`))
	f.Add([]byte(`{"push":"data":"`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, line []byte) {
		data := centrifugePayload(line)
		if data != nil && (bytes.IndexByte(data, '"') >= 0 || !bytes.Contains(line, data)) {
			t.Fatalf("payload %q out of line %q", data, line)
		}
	})
}

func BenchmarkCentrifugePayload(b *testing.B) {
	line := []byte(`{"push":{"channel":"chat","pub":{"data":"00000001000000020000000000000003","offset":12345}}}`)
	b.ReportAllocs()
	for b.Loop() {
		if centrifugePayload(line) == nil {
			b.Fatal("no payload")
		}
	}
}
