package e2e

import (
	"errors"
	"io"
	"net"
	"strconv"
	"sync"
)

// Switch is a loopback TCP forwarder in front of a peer (Keycloak) that a test can cut and
// restore. The gateways reach Keycloak's JWKS only through it, so "Keycloak down" can be
// simulated for them while the test itself still talks to Keycloak directly and the one shared
// Keycloak keeps running. Down closes the listening socket and every open connection, so the
// gateways see what a stopped Keycloak looks like: connection refused.
type Switch struct {
	Port   int
	target string

	mu    sync.Mutex
	l     net.Listener
	conns map[net.Conn]struct{}
}

// NewSwitch starts a forwarder on a free loopback port to target ("127.0.0.1:PORT").
func NewSwitch(target string) (*Switch, error) {
	s := &Switch{target: target, conns: map[net.Conn]struct{}{}}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s.Port = l.Addr().(*net.TCPAddr).Port
	s.serve(l)
	return s, nil
}

// Addr is the forwarder's address.
func (s *Switch) Addr() string { return "127.0.0.1:" + strconv.Itoa(s.Port) }

func (s *Switch) serve(l net.Listener) {
	s.mu.Lock()
	s.l = l
	s.mu.Unlock()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go s.forward(c)
		}
	}()
}

func (s *Switch) forward(c net.Conn) {
	up, err := net.Dial("tcp", s.target)
	if err != nil {
		c.Close()
		return
	}
	s.track(c, up)
	defer s.untrack(c, up)
	done := make(chan struct{}, 2)
	go func() { io.Copy(up, c); done <- struct{}{} }()
	go func() { io.Copy(c, up); done <- struct{}{} }()
	<-done
}

func (s *Switch) track(cs ...net.Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range cs {
		s.conns[c] = struct{}{}
	}
}

func (s *Switch) untrack(cs ...net.Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range cs {
		c.Close()
		delete(s.conns, c)
	}
}

// Down stops accepting (connection refused) and drops every open connection.
func (s *Switch) Down() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.l != nil {
		s.l.Close()
		s.l = nil
	}
	for c := range s.conns {
		c.Close()
		delete(s.conns, c)
	}
}

// Up listens again on the same port.
func (s *Switch) Up() error {
	s.mu.Lock()
	up := s.l != nil
	s.mu.Unlock()
	if up {
		return nil
	}
	l, err := net.Listen("tcp", s.Addr())
	if err != nil {
		return errors.Join(errors.New("switch: cannot listen again on "+s.Addr()), err)
	}
	s.serve(l)
	return nil
}

// Close shuts the forwarder down for good.
func (s *Switch) Close() { s.Down() }
