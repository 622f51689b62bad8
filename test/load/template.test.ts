import { describe, expect, it } from 'vitest';
import { checkTemplateSyntax, render, templateRefs } from '../../src/load/template.js';

const scope = { run: { id: 'R1' }, host: { name: 'web-1', port: 22 }, vars: { n: 5, list: [1, 2], obj: { a: 'x' }, s: 'hi', nul: null } };

describe('template', () => {
  it('substitutes in strings and keeps the type of a whole-string template', () => {
    expect(render('{{ vars.n }}', scope).value).toBe(5);
    expect(render('  {{vars.list}} ', scope).value).toEqual([1, 2]);
    expect(render('n={{ vars.n }} on {{ host.name }}', scope).value).toBe('n=5 on web-1');
    expect(render('{{ vars.obj }}!', scope).value).toBe('{"a":"x"}!');
    expect(render('[{{ vars.nul }}]', scope).value).toBe('[]');
    expect(render('{{ vars.list.1 }}', scope).value).toBe(2);
    expect(render({ a: ['{{ run.id }}', 3, true] }, scope).value).toEqual({ a: ['R1', 3, true] });
    expect(render('no templates', scope).value).toBe('no templates');
  });

  it('leaves deferred namespaces for run time', () => {
    const r = render('{{ facts.os.family }}-{{ vars.s }}-{{ registered.probe.rc }}', scope, { defer: ['facts', 'registered'] });
    expect(r).toEqual({ value: '{{ facts.os.family }}-hi-{{ registered.probe.rc }}', errors: [] });
  });

  it('reports undefined references with where they are', () => {
    expect(render({ x: ['ok', 'a {{ vars.nope }}'] }, scope).errors).toEqual([
      { at: ['x', 1], text: '{{ vars.nope }}', offset: 2, message: "undefined variable 'vars.nope'" },
    ]);
    expect(render('{{ vars.obj.b }}', scope).errors[0]!.message).toBe("undefined variable 'vars.obj.b'");
    expect(render('{{ vars.lsit }}', scope).errors[0]!.message).toBe("undefined variable 'vars.lsit' (did you mean 'vars.list'?)");
    expect(render('{{ facts.x }}', scope).errors[0]!.message).toBe("undefined variable 'facts.x'");
  });

  it('rejects expressions, bare names and unclosed braces', () => {
    expect(checkTemplateSyntax('{{ vars.a | lower }}').map((e) => e.message)).toEqual(["only variable references are allowed in templates (no filters or expressions): '{{ vars.a | lower }}'"]);
    expect(checkTemplateSyntax('{{ iso }}').map((e) => e.message)).toEqual(["template reference 'iso' must start with run., host., vars., facts., registered. (did you mean 'vars.iso'?)"]);
    expect(checkTemplateSyntax('{{ vars }}').map((e) => e.message)).toEqual(["template reference 'vars' names a whole namespace; name a variable inside it, e.g. 'vars.something'"]);
    expect(checkTemplateSyntax('a {{ vars.x').map((e) => e.message)).toEqual(["unclosed template: '{{' without '}}'"]);
    expect(checkTemplateSyntax('{{}}').map((e) => e.message)).toEqual(['empty template {{ }}']);
  });

  it('lists references', () => {
    expect(templateRefs({ a: '{{ vars.x }} and {{facts.y}}', b: [1, '{{ run.id }}'] })).toEqual([
      { at: ['a'], ref: 'vars.x', text: '{{ vars.x }}', offset: 0 },
      { at: ['a'], ref: 'facts.y', text: '{{facts.y}}', offset: 17 },
      { at: ['b', 1], ref: 'run.id', text: '{{ run.id }}', offset: 0 },
    ]);
  });
});
