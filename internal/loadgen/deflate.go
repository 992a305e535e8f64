package loadgen

import (
	"bytes"
	"compress/flate"
	"fmt"
	"io"
	"strconv"
	"sync"

	"github.com/gobwas/httphead"
	"github.com/gobwas/ws/wsflate"
)

// Compression: with WorkerConfig.Compression a connection offers
// permessage-deflate (RFC 7692) as browsers do and decompresses the
// messages the server sends compressed (RSV1). What it sends stays
// uncompressed (allowed by the RFC): the scenario measures the server's
// fan-out.

// deflateOffer is the Sec-WebSocket-Extensions offer, Chromium's.
func deflateOffer() []httphead.Option {
	return []httphead.Option{wsflate.Parameters{ClientMaxWindowBits: 1}.Option()}
}

// accepted reports whether the server's response accepted permessage-deflate.
func deflateAccepted(exts []httphead.Option) bool {
	for _, e := range exts {
		if bytes.Equal(e.Name, wsflate.ExtensionNameBytes) {
			return true
		}
	}
	return false
}

// inflaters are decompressors shared by the connections of a process.
var inflaters sync.Pool

type inflater struct {
	src bytes.Reader
	fr  io.ReadCloser
}

// deflateTail completes a compressed message: the removed 00 00 ff ff and
// an empty final block.
const deflateTail = "\x00\x00\xff\xff\x01\x00\x00\xff\xff"

// inflateMsg decompresses fr.msg into fr.plain, at most fr.max bytes.
func (fr *frameReader) inflateMsg() ([]byte, error) {
	fr.msg = append(fr.msg, deflateTail...)
	z, _ := inflaters.Get().(*inflater)
	if z == nil {
		z = &inflater{}
		z.src.Reset(fr.msg)
		z.fr = flate.NewReader(&z.src)
	} else {
		z.src.Reset(fr.msg)
		_ = z.fr.(flate.Resetter).Reset(&z.src, nil)
	}
	defer inflaters.Put(z)
	fr.plain = fr.plain[:0]
	for {
		if len(fr.plain) == cap(fr.plain) {
			fr.plain = append(fr.plain, 0)[:len(fr.plain)]
		}
		n, err := z.fr.Read(fr.plain[len(fr.plain):cap(fr.plain)])
		fr.plain = fr.plain[:len(fr.plain)+n]
		if len(fr.plain) > fr.max {
			return nil, fmt.Errorf("%w: decompressed past %d bytes", ErrFrameTooLarge, fr.max)
		}
		if err == io.EOF {
			return fr.plain, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%w: bad compressed data: %v", ErrBadFrame, err)
		}
	}
}

// jsonPadding returns n bytes of JSON text (rows of a dashboard update),
// the padding of WorkerConfig.PadJSON: it compresses as real JSON does,
// unlike PadByte.
func jsonPadding(n int) []byte {
	b := make([]byte, 0, n+80)
	b = append(b, `,"rows":[`...)
	for i := 0; len(b) < n; i++ {
		b = append(b, `{"id":`...)
		b = strconv.AppendInt(b, int64(1000+i*7), 10)
		b = append(b, `,"name":"sensor-`...)
		b = strconv.AppendInt(b, int64(i), 10)
		b = append(b, `","value":`...)
		b = strconv.AppendInt(b, int64(i*37%1000), 10)
		b = append(b, `,"ok":true},`...)
	}
	return b[:n]
}
