// rukt-streamclient drives a CRI streaming URL with client-go's own
// remotecommand and portforward code, as kubelet and crictl do, so the
// streaming server (streaming/, rukt-streaming) is tested against the real
// client rather than a mock.
//
//	rukt-streamclient exec|attach -url URL [-transport spdy|websocket] [-protocols v3.channel.k8s.io,...] [-stdin] [-tty] [-stderr] [-resize 80x24,100x30]
//	rukt-streamclient portforward -url URL [-transport spdy|websocket] -port N
//
// exec and attach copy this process's stdin (with -stdin) to the session and
// its output to stdout/stderr; the remote exit code becomes this process's
// exit code. Any other failure prints "streamclient: ..." and exits 125.
// portforward listens on 127.0.0.1 (a free port), prints "listening PORT"
// on stdout, and forwards until its stdin reaches EOF.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/tools/remotecommand"
	"k8s.io/client-go/transport/spdy"
	utilexec "k8s.io/client-go/util/exec"
)

func main() {
	if len(os.Args) < 2 {
		fail(errors.New("usage: rukt-streamclient exec|attach|portforward -url URL ..."))
	}
	verb := os.Args[1]
	fs := flag.NewFlagSet(verb, flag.ExitOnError)
	rawURL := fs.String("url", "", "the streaming URL the CRI server returned")
	transport := fs.String("transport", "spdy", "spdy or websocket")
	stdin := fs.Bool("stdin", false, "send this process's stdin")
	tty := fs.Bool("tty", false, "a terminal session (no stderr stream)")
	stderr := fs.Bool("stderr", false, "ask for a stderr stream")
	resize := fs.String("resize", "", "terminal sizes to send, WxH[,WxH...]")
	port := fs.Int("port", 0, "the remote port to forward")
	protocols := fs.String("protocols", "", "the remotecommand versions to offer, comma-separated (default: client-go's)")
	_ = fs.Parse(os.Args[2:])
	if *rawURL == "" {
		fail(errors.New("-url is required"))
	}
	config := &rest.Config{Host: *rawURL}
	switch verb {
	case "exec", "attach":
		os.Exit(stream(config, *rawURL, *transport, *protocols, *stdin, *tty, *stderr, *resize))
	case "portforward":
		forward(config, *rawURL, *transport, *port)
	default:
		fail(fmt.Errorf("unknown verb %q", verb))
	}
}

func fail(err error) {
	fmt.Fprintf(os.Stderr, "streamclient: %v\n", err)
	os.Exit(125)
}

// sizes is a TerminalSizeQueue that hands out the -resize sizes once each.
type sizes struct{ left []remotecommand.TerminalSize }

func (s *sizes) Next() *remotecommand.TerminalSize {
	if len(s.left) == 0 {
		return nil
	}
	next := s.left[0]
	s.left = s.left[1:]
	return &next
}

func parseSizes(spec string) *sizes {
	out := &sizes{}
	for _, word := range strings.Split(spec, ",") {
		if word == "" {
			continue
		}
		w, h, ok := strings.Cut(word, "x")
		width, err1 := strconv.ParseUint(w, 10, 16)
		height, err2 := strconv.ParseUint(h, 10, 16)
		if !ok || err1 != nil || err2 != nil {
			fail(fmt.Errorf("bad size %q (want WxH)", word))
		}
		out.left = append(out.left, remotecommand.TerminalSize{Width: uint16(width), Height: uint16(height)})
	}
	return out
}

func stream(config *rest.Config, rawURL, transport, protocols string, stdin, tty, stderr bool, resize string) int {
	var executor remotecommand.Executor
	var err error
	switch {
	case transport == "spdy" && protocols != "":
		rt, upgrader, rtErr := spdy.RoundTripperFor(config)
		if rtErr != nil {
			fail(rtErr)
		}
		executor, err = remotecommand.NewSPDYExecutorForProtocols(rt, upgrader, http.MethodPost, mustURL(rawURL), strings.Split(protocols, ",")...)
	case transport == "spdy":
		executor, err = remotecommand.NewSPDYExecutor(config, http.MethodPost, mustURL(rawURL))
	case transport == "websocket" && protocols != "":
		executor, err = remotecommand.NewWebSocketExecutorForProtocols(config, http.MethodGet, rawURL, strings.Split(protocols, ",")...)
	case transport == "websocket":
		executor, err = remotecommand.NewWebSocketExecutor(config, http.MethodGet, rawURL)
	default:
		err = fmt.Errorf("unknown transport %q", transport)
	}
	if err != nil {
		fail(err)
	}
	opts := remotecommand.StreamOptions{Stdout: os.Stdout, Tty: tty}
	if stdin {
		opts.Stdin = os.Stdin
	}
	if stderr {
		opts.Stderr = os.Stderr
	}
	if resize != "" {
		opts.TerminalSizeQueue = parseSizes(resize)
	}
	err = executor.StreamWithContext(context.Background(), opts)
	var exitErr utilexec.CodeExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &exitErr):
		return exitErr.Code
	default:
		fail(err)
		return 125
	}
}

func mustURL(rawURL string) *url.URL {
	u, err := url.Parse(rawURL)
	if err != nil {
		fail(err)
	}
	return u
}

func forward(config *rest.Config, rawURL, transport string, port int) {
	u := mustURL(rawURL)
	spdyTransport, upgrader, err := spdy.RoundTripperFor(config)
	if err != nil {
		fail(err)
	}
	dialer := spdy.NewDialer(upgrader, &http.Client{Transport: spdyTransport}, http.MethodPost, u)
	switch transport {
	case "spdy":
	case "websocket":
		tunnel, err := portforward.NewSPDYOverWebsocketDialer(u, config)
		if err != nil {
			fail(err)
		}
		// As kubectl and crictl do: the WebSocket tunnel first, SPDY only if the
		// server refuses the upgrade. The test checks the tunnel was used.
		dialer = tunnel
	default:
		fail(fmt.Errorf("unknown transport %q", transport))
	}
	stop, ready := make(chan struct{}), make(chan struct{})
	fw, err := portforward.NewOnAddresses(dialer, []string{"127.0.0.1"}, []string{fmt.Sprintf("0:%d", port)}, stop, ready, io.Discard, os.Stderr)
	if err != nil {
		fail(err)
	}
	done := make(chan error, 1)
	go func() { done <- fw.ForwardPorts() }()
	select {
	case <-ready:
	case err := <-done:
		fail(fmt.Errorf("forwarding: %v", err))
	}
	ports, err := fw.GetPorts()
	if err != nil {
		fail(err)
	}
	fmt.Printf("listening %d\n", ports[0].Local)
	go func() {
		_, _ = io.Copy(io.Discard, bufio.NewReader(os.Stdin))
		close(stop)
	}()
	if err := <-done; err != nil {
		fail(fmt.Errorf("forwarding: %v", err))
	}
}
