// rukt-streampeer is bench/streaming.sh's peer: kubelet's own CRI streaming
// server library (k8s.io/cri-streaming, what CRI-O and containerd embed)
// over the host. Each line on stdin is a shell command; the answer on stdout
// is a one-time exec URL (stdout only) for `/bin/sh -c LINE`.
package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/cri-streaming/pkg/streaming"
	remotecommandserver "k8s.io/cri-streaming/pkg/streaming/remotecommand"
)

type host struct{}

func (host) Exec(ctx context.Context, _ string, cmd []string, in io.Reader, out, errOut io.WriteCloser, _ bool, _ <-chan remotecommandserver.TerminalSize) error {
	c := exec.CommandContext(ctx, cmd[0], cmd[1:]...)
	c.Stdin, c.Stdout = in, out
	if errOut != nil {
		c.Stderr = errOut
	}
	return c.Run()
}

func (host) Attach(context.Context, string, io.Reader, io.WriteCloser, io.WriteCloser, bool, <-chan remotecommandserver.TerminalSize) error {
	return errors.New("attach is not part of the benchmark")
}

func (host) PortForward(context.Context, string, int32, io.ReadWriteCloser) error {
	return errors.New("port-forward is not part of the benchmark")
}

func main() {
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	config := streaming.DefaultConfig
	config.Addr = listener.Addr().String()
	server, err := streaming.NewServer(config, host{})
	if err != nil {
		panic(err)
	}
	listener.Close()
	go func() { panic(server.Start(true)) }()
	for {
		if c, err := net.Dial("tcp", config.Addr); err == nil {
			c.Close()
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	lines := bufio.NewScanner(os.Stdin)
	for lines.Scan() {
		resp, err := server.GetExec(&runtimeapi.ExecRequest{ContainerId: "bench", Cmd: []string{"/bin/sh", "-c", lines.Text()}, Stdout: true})
		if err != nil {
			panic(err)
		}
		fmt.Println(resp.Url)
	}
}
