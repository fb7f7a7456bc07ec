import { describe, expect, it } from '@jest/globals';
import { parseHostAddress, parseHostList } from './host-address.js';

const defaults = { user: 'ec2-user', port: 22 };

describe('host-address', () => {
  it('reads [user@]host[:port] with defaults for what is left out', () => {
    expect(parseHostAddress('hosts', '10.0.1.5', defaults)).toEqual({ user: 'ec2-user', host: '10.0.1.5', port: 22, label: 'ec2-user@10.0.1.5:22' });
    expect(parseHostAddress('hosts', 'ubuntu@web-1.internal:2222', defaults)).toEqual({ user: 'ubuntu', host: 'web-1.internal', port: 2222, label: 'ubuntu@web-1.internal:2222' });
    expect(parseHostAddress('hosts', 'admin@[2001:db8::1]:2200', defaults)).toEqual({ user: 'admin', host: '2001:db8::1', port: 2200, label: 'admin@[2001:db8::1]:2200' });
    expect(parseHostAddress('hosts', '[::1]', defaults).port).toBe(22);
  });

  it('splits a list on commas and newlines, skipping comments and blanks', () => {
    const hosts = parseHostList('hosts', 'a.example, b.example:2200\n# old host\n\nroot@c.example', { user: 'deploy', port: 2222 });
    expect(hosts.map((h) => h.label)).toEqual(['deploy@a.example:2222', 'deploy@b.example:2200', 'root@c.example:2222']);
  });

  it.each([
    ['', 'Input `hosts`: is empty'],
    ['a.example, a.example:22', 'Input `hosts`: a.example:22 is listed twice'],
    ['host:0', 'Input `hosts`: "0" is not a port'],
    ['host:http', 'Input `hosts`: "http" is not a port'],
    ['host:', 'Input `hosts`: "host:" ends with ":" but no port'],
    ['2001:db8::1', 'put an IPv6 address in brackets'],
    ['bad user@host', 'contains white space'],
    ['-oProxyCommand=x@host', 'Input `hosts`: "-oProxyCommand=x" in'],
    ['user@-host', 'is not a host name'],
    ['[::1', 'opens [ without closing it'],
  ])('refuses %j naming the input', (raw, message) => {
    expect(() => parseHostList('hosts', raw, defaults)).toThrow(message);
  });
});
