package p2p_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"sync/atomic"
	"time"

	"github.com/unode-dev/unode/capabilities"
	"github.com/unode-dev/unode/eval"
	"github.com/unode-dev/unode/p2p"
)

// A thermostat exposes its sensor to the language as the native builtin
// Sensor.temperature. A monitoring node, holding a token for ffi:Sensor,
// averages ten readings on the thermostat; without the token it is
// denied, and on its own node the call says where the sensor lives.
func ExampleNode_Register() {
	ctx := context.Background()
	thermostat, err := p2p.New(ctx)
	if err != nil {
		log.Fatal(err)
	}
	defer thermostat.Close()

	// The "hardware": a sensor that reads 20, 20.5, 21, 21.5 °C in turn.
	var reads atomic.Int64
	temperature := func(ctx context.Context) (float64, error) {
		return 20 + 0.5*float64((reads.Add(1)-1)%4), nil
	}
	info, err := thermostat.Register(ctx, "Sensor.temperature", temperature, p2p.NativeDoc("the room temperature in °C"))
	if err != nil {
		log.Fatal(err)
	}

	monitor, err := p2p.New(ctx)
	if err != nil {
		log.Fatal(err)
	}
	defer monitor.Close()
	if _, err := monitor.Connect(ctx, thermostat.Addrs()[0].String()); err != nil {
		log.Fatal(err)
	}
	// The monitor adds the definition that names the native: the same
	// source as on the thermostat, so the same CID.
	if _, err := monitor.Codebase().Add(ctx, "thermostat.u", []byte(info.Source)); err != nil {
		log.Fatal(err)
	}
	at := thermostat.ID().String()
	avg := "List.sum (List.map (i -> !Sensor.temperature) (List.range 0 10)) / 10.0"

	_, err = monitor.EvalAt(ctx, at, avg, p2p.Budget{})
	var ce *p2p.CallError
	if errors.As(err, &ce) {
		fmt.Println(ce.Code, ce.Which, ce.Name)
	}

	sb, err := capabilities.ParseSandbox("--allow pure --allow ffi:Sensor")
	if err != nil {
		log.Fatal(err)
	}
	tok, err := thermostat.Grant(ctx, capabilities.Claims{Audience: monitor.ID(), Sandbox: sb, Expires: time.Now().Add(time.Hour)}, "monitor")
	if err != nil {
		log.Fatal(err)
	}
	res, err := monitor.EvalAt(ctx, at, avg, p2p.Budget{}, p2p.WithTokens(tok))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.Text, "after", reads.Load(), "readings")

	_, err = monitor.Codebase().EvalSource(ctx, "<expr>", "!Sensor.temperature", p2p.Budget{})
	where, ok := eval.IsNativeElsewhere(err)
	fmt.Println(ok && where == at)
	// Output:
	// denied builtin Native.call
	// 20.65 after 10 readings
	// true
}
