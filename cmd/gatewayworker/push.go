package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/gatewayworker/gatewayworker/businessworker"
	"github.com/gatewayworker/gatewayworker/internal/cli"
	"github.com/gatewayworker/gatewayworker/pushclient"
)

// defaultPushTimeout bounds a one-shot push subcommand (linking, the send
// and the wait until the gateways applied it) and each request of api.
const defaultPushTimeout = 10 * time.Second

// pushOptions are the options of the subcommands that act through a push
// client (send-to-*, stats, api).
type pushOptions struct {
	registers []string
	secret    string
	timeout   time.Duration
	tls       internalTLS
	log       cli.Logging
}

// The help of --secret and --timeout differs between the one-shot commands
// and api (required secret, per-request timeout): secretHelp and timeoutHelp.
func (o *pushOptions) define(s *cli.Set, secretHelp, timeoutHelp string) {
	s.List(&o.registers, "register", []string{"127.0.0.1:1236"}, "comma-separated register addresses")
	s.String(&o.secret, "secret", "", secretHelp)
	s.Duration(&o.timeout, "timeout", defaultPushTimeout, timeoutHelp)
	o.tls.define(s, "tls-", true)
	o.log.Define(s)
}

// Help texts of --secret and --timeout for the one-shot commands.
const (
	oneShotSecretHelp  = "cluster secret (empty: none)"
	oneShotTimeoutHelp = "bound on the whole command (link, send, acknowledgement)"
)

// client builds the push client the options describe; the logs go to w.
// A one-shot command (send-to-*, stats) logs errors only unless --log-level
// asks for debug or warn, so its output is the result, or one error, alone.
func (o *pushOptions) client(w io.Writer, name string, oneShot bool) (*pushclient.Client, error) {
	if o.timeout <= 0 {
		return nil, usageError{fmt.Errorf("--timeout must be positive, got %v", o.timeout)}
	}
	logging := o.log
	if oneShot && strings.EqualFold(logging.Level, "info") {
		logging.Level = "error"
	}
	log, err := logging.Logger(w)
	if err != nil {
		return nil, usageError{err}
	}
	tl, err := o.tls.load(log)
	if err != nil {
		return nil, usageError{err}
	}
	p, err := pushclient.New(pushclient.Config{Registers: o.registers, Secret: o.secret, Name: name, Logger: log,
		TLS: tl.ClientConfig()})
	if err != nil {
		return nil, usageError{err}
	}
	return p, nil
}

// sendSpec describes one send-to-* subcommand.
type sendSpec struct {
	name, summary string
	args          []string // names of the positional arguments before TEXT
	exclude       bool     // takes --exclude
	send          func(ctx context.Context, p *pushclient.Client, args []string, m businessworker.Message, opts []businessworker.SendOption) error
}

// sendSpecs lists the send-to-* subcommands.
func sendSpecs() []sendSpec {
	return []sendSpec{
		{"send-to-all", "send TEXT to every client (GatewayWorker's sendToAll)", nil, true,
			func(ctx context.Context, p *pushclient.Client, _ []string, m businessworker.Message, opts []businessworker.SendOption) error {
				return p.SendToAll(ctx, m, opts...)
			}},
		{"send-to-client", "send TEXT to one client (sendToClient)", []string{"ID"}, false,
			func(ctx context.Context, p *pushclient.Client, a []string, m businessworker.Message, _ []businessworker.SendOption) error {
				return p.SendToClient(ctx, a[0], m)
			}},
		{"send-to-uid", "send TEXT to every connection bound to UID (sendToUid)", []string{"UID"}, false,
			func(ctx context.Context, p *pushclient.Client, a []string, m businessworker.Message, _ []businessworker.SendOption) error {
				return p.SendToUID(ctx, a[0], m)
			}},
		{"send-to-group", "send TEXT to every member of GROUP (sendToGroup)", []string{"GROUP"}, true,
			func(ctx context.Context, p *pushclient.Client, a []string, m businessworker.Message, opts []businessworker.SendOption) error {
				return p.SendToGroup(ctx, a[0], m, opts...)
			}},
	}
}

// sendCommand returns the send-to-* subcommand called name.
func sendCommand(name string) command {
	for _, sp := range sendSpecs() {
		if sp.name == name {
			return command{sp.summary, runSend(sp)}
		}
	}
	return command{"?", func(context.Context, env, []string) error {
		return fmt.Errorf("no send command %q", name)
	}}
}

// runSend returns the run function of a send-to-* subcommand: it sends, then
// waits until every gateway applied the send, so exit status 0 means the
// gateways took it.
func runSend(spec sendSpec) func(ctx context.Context, e env, args []string) error {
	return func(ctx context.Context, e env, args []string) error {
		var (
			o       pushOptions
			binary  bool
			exclude []string
		)
		want := append(append([]string{}, spec.args...), "TEXT")
		s := cli.New(spec.name, spec.summary+"; it exits 0 once every gateway applied it.\n\nARGS: "+strings.Join(want, " "), e.stderr, e.getenv)
		o.define(s, oneShotSecretHelp, oneShotTimeoutHelp)
		s.Bool(&binary, "binary", false, "send a binary WebSocket frame instead of a text one")
		if spec.exclude {
			s.List(&exclude, "exclude", nil, "comma-separated client ids to leave out")
		}
		if err := parse(s, args); err != nil {
			return err
		}
		if len(s.Args()) != len(want) {
			return usageError{fmt.Errorf("%s: want arguments %v, got %d", spec.name, want, len(s.Args()))}
		}
		p, err := o.client(e.stderr, "gatewayworker "+spec.name, true)
		if err != nil {
			return err
		}
		defer p.Close(context.Background())
		ctx, cancel := context.WithTimeout(ctx, o.timeout)
		defer cancel()
		pos := s.Args()
		m := businessworker.Text(pos[len(pos)-1])
		m.Binary = binary
		var opts []businessworker.SendOption
		if len(exclude) > 0 {
			opts = append(opts, businessworker.WithExclude(exclude...))
		}
		if err := spec.send(ctx, p, pos[:len(pos)-1], m, opts); err != nil {
			return sendError(spec.name, o, err)
		}
		if err := p.Flush(ctx); err != nil {
			if noRegister(err) {
				return o.noRegisterError(spec.name, err)
			}
			return fmt.Errorf("%s: not acknowledged by every gateway: %w", spec.name, err)
		}
		return nil
	}
}

// sendError marks bad arguments as usage errors and names the command.
func sendError(name string, o pushOptions, err error) error {
	if errors.Is(err, businessworker.ErrInvalidClientID) || errors.Is(err, businessworker.ErrEmptyGroup) ||
		errors.Is(err, businessworker.ErrEmptyUID) {
		return usageError{err}
	}
	if noRegister(err) {
		return o.noRegisterError(name, err)
	}
	return fmt.Errorf("%s: %w", name, err)
}

// noRegister reports whether err is the deadline of a call that never got a
// gateway set from any register: once it has one, every failure is about a
// gateway and comes as a *businessworker.GatewayError.
func noRegister(err error) bool {
	return errors.Is(err, context.DeadlineExceeded) && !errors.As(err, new(*businessworker.GatewayError))
}

// noRegisterError is the one error of a command that reached no register.
func (o pushOptions) noRegisterError(name string, err error) error {
	return fmt.Errorf("%s: no register answered within %v (--register %s): %w (--log-level warn shows each attempt)",
		name, o.timeout, strings.Join(o.registers, ","), err)
}
