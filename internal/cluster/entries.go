package cluster

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// PrintEntries reads a VictoriaLogs LogsQL answer (one JSON object per
// stored entry) and writes each entry as `<_stream> <_msg>`, the way Loki
// shows a stream's labels and its line. A missing field prints as empty.
func PrintEntries(r io.Reader, w io.Writer) error {
	dec := json.NewDecoder(r)
	bw := bufio.NewWriter(w)
	for n := 1; ; n++ {
		var e struct {
			Stream string `json:"_stream"`
			Msg    string `json:"_msg"`
		}
		if err := dec.Decode(&e); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return fmt.Errorf("entry %d of the store's answer is not a JSON object with string _stream and _msg: %w", n, err)
		}
		fmt.Fprintf(bw, "%s %s\n", e.Stream, e.Msg)
	}
	return bw.Flush()
}
