// Command thermostat is a small program embedding a unode node that
// exposes its (simulated) temperature sensor to the language as native
// builtins (docs/native.md):
//
//	Sensor.temperature   a thunk: !Sensor.temperature reads the room in °C
//	Sensor.raw ch        the raw reading of sensor channel ch (0 or 1)
//
// Both are in the native group Sensor, so code sent by another node may
// call them only with a grant of ffi:Sensor. The program keeps its
// identity, grants and audit log in a repo (-repo), listens on -listen,
// and, for each -grant PEER, issues that peer a token for
// "--allow pure --allow ffi:Sensor" and prints it. Another node then
// runs, for instance:
//
//	unode eval --at /ip4/.../p2p/12D3KooW... --token TOKEN \
//	  'List.sum (List.map (i -> !Sensor.temperature) (List.range 0 10)) / 10.0'
//
// after adding the definitions the program prints (their source names
// the thermostat's peer ID, so they are the same on every node).
//
// The simulated sensor reads 20, 20.5, 21 and 21.5 °C in turn; its raw
// channels are read without a bounds check, as a careless driver would,
// so Sensor.raw 9 panics, which fails that call and nothing else.
package main
