// Command clientgo-decode decodes discofilter-encoded protobuf with the real client-go scheme,
// for tests/unit/codec/test_codec_clientgo.py (built in a temporary module against the
// versions pinned in tests/peers/go.mod).
//
// stdin: records of 1 tag byte ('o' an enveloped object or list, 'w' a whole watch frame),
// a 4-byte big-endian length and the payload. stdout: one JSON line per record,
// {"gvk": ..., "type": ..., "object": ...} or {"error": ...}.
package main

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"os"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/scheme"
)

func decodeRecord(tag byte, rec []byte) (map[string]any, error) {
	dec := scheme.Codecs.UniversalDeserializer()
	out := map[string]any{}
	raw := rec
	if tag == 'w' {
		if len(rec) < 4 || int(binary.BigEndian.Uint32(rec[:4])) != len(rec)-4 {
			return nil, fmt.Errorf("bad frame length")
		}
		var ev metav1.WatchEvent
		if err := ev.Unmarshal(rec[4:]); err != nil {
			return nil, err
		}
		out["type"] = ev.Type
		raw = ev.Object.Raw
	}
	var obj runtime.Object
	obj, gvk, err := dec.Decode(raw, nil, nil)
	if err != nil {
		return nil, err
	}
	out["gvk"] = gvk.GroupVersion().String() + "/" + gvk.Kind
	out["object"] = obj
	return out, nil
}

func main() {
	data, err := io.ReadAll(os.Stdin)
	if err != nil {
		panic(err)
	}
	w := bufio.NewWriter(os.Stdout)
	defer w.Flush()
	for len(data) >= 5 {
		tag := data[0]
		n := int(binary.BigEndian.Uint32(data[1:5]))
		rec := data[5 : 5+n]
		data = data[5+n:]
		out, err := decodeRecord(tag, rec)
		if err != nil {
			out = map[string]any{"error": err.Error()}
		}
		b, _ := json.Marshal(out)
		w.Write(append(b, '\n'))
	}
}
