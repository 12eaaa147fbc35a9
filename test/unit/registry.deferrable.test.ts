import 'reflect-metadata';
import { describe, expect, it } from 'vitest';
import { DeferralError } from '../../src/errors.js';
import { Deferrable as DeferrableFromIndex } from '../../src/index.js';
import { Deferrable, isDeferrable } from '../../src/call/registry.js';
import { Account, Membership } from '../fixtures/entities.js';

class Base {
  @Deferrable()
  run(): string { return 'base run'; }

  @Deferrable()
  shared(): string { return 'instance shared'; }

  static shared(): string { return 'static shared, unmarked'; }

  plain(): string { return 'not marked'; }

  @Deferrable()
  static rebuild(): string { return 'static rebuild'; }

  static staticPlain(): string { return 'not marked'; }
}

class Child extends Base {
  childOnly(): string { return 'new, not marked'; }

  @Deferrable()
  childMarked(): string { return 'child marked'; }

  static childStatic(): string { return 'new static, not marked'; }
}

class GrandChild extends Child {}

class Sibling extends Base {
  @Deferrable()
  siblingOnly(): string { return 'sibling'; }
}

describe('@Deferrable()', () => {
  it('is the same decorator the package index exports', () => {
    expect(DeferrableFromIndex).toBe(Deferrable);
  });

  it('marks instance methods', () => {
    expect(isDeferrable(Base, 'run', 'instance')).toBe(true);
    expect(isDeferrable(Base, 'shared', 'instance')).toBe(true);
  });

  it('marks static methods', () => {
    expect(isDeferrable(Base, 'rebuild', 'static')).toBe(true);
  });

  it('an instance mark is not a static mark, and the other way round', () => {
    expect(isDeferrable(Base, 'run', 'static')).toBe(false);
    expect(isDeferrable(Base, 'rebuild', 'instance')).toBe(false);
  });

  it("a mark on the parent's instance method does not make a static of the same name deferrable", () => {
    expect(typeof Base.shared).toBe('function');
    expect(isDeferrable(Base, 'shared', 'static')).toBe(false);
    expect(isDeferrable(Child, 'shared', 'static')).toBe(false);
    expect(isDeferrable(Child, 'shared', 'instance')).toBe(true);
  });

  it('leaves unmarked methods undeferrable', () => {
    expect(isDeferrable(Base, 'plain', 'instance')).toBe(false);
    expect(isDeferrable(Base, 'staticPlain', 'static')).toBe(false);
    expect(isDeferrable(Base, 'doesNotExist', 'instance')).toBe(false);
    expect(isDeferrable(Base, 'doesNotExist', 'static')).toBe(false);
  });

  it("is false for 'constructor' and '__proto__'", () => {
    for (const cls of [Base, Child, Account]) {
      for (const kind of ['instance', 'static'] as const) {
        expect(isDeferrable(cls, 'constructor', kind)).toBe(false);
        expect(isDeferrable(cls, '__proto__', kind)).toBe(false);
        expect(isDeferrable(cls, 'prototype', kind)).toBe(false);
      }
    }
  });

  it('is false for methods every object or class inherits', () => {
    for (const name of ['toString', 'valueOf', 'hasOwnProperty', '__defineGetter__', '__lookupGetter__']) {
      expect(isDeferrable(Base, name, 'instance'), name).toBe(false);
    }
    for (const name of ['call', 'apply', 'bind', 'toString']) {
      expect(isDeferrable(Base, name, 'static'), name).toBe(false);
    }
  });

  it('a subclass inherits the marks of its parent', () => {
    expect(isDeferrable(Child, 'run', 'instance')).toBe(true);
    expect(isDeferrable(Child, 'rebuild', 'static')).toBe(true);
    expect(isDeferrable(GrandChild, 'run', 'instance')).toBe(true);
    expect(isDeferrable(GrandChild, 'rebuild', 'static')).toBe(true);
    expect(isDeferrable(GrandChild, 'childMarked', 'instance')).toBe(true);
  });

  it('is false for a method name the subclass did not inherit a mark for', () => {
    expect(isDeferrable(Child, 'childOnly', 'instance')).toBe(false);
    expect(isDeferrable(Child, 'childStatic', 'static')).toBe(false);
    expect(isDeferrable(Child, 'plain', 'instance')).toBe(false);
    expect(isDeferrable(GrandChild, 'childOnly', 'instance')).toBe(false);
  });

  it("a subclass's marks do not leak to its parent or siblings", () => {
    expect(isDeferrable(Base, 'childMarked', 'instance')).toBe(false);
    expect(isDeferrable(Sibling, 'childMarked', 'instance')).toBe(false);
    expect(isDeferrable(Child, 'siblingOnly', 'instance')).toBe(false);
    expect(isDeferrable(Sibling, 'siblingOnly', 'instance')).toBe(true);
  });

  it('leaves no mark on the class itself that a payload could forge', () => {
    const own = [...Object.getOwnPropertyNames(Base), ...Object.getOwnPropertySymbols(Base).map(String)];
    expect(own.sort()).toEqual(['length', 'name', 'prototype', 'rebuild', 'shared', 'staticPlain'].sort());
    expect(Object.getOwnPropertySymbols(Base.prototype)).toEqual([]);
  });

  it('works on TypeORM entities (the fixtures)', () => {
    expect(isDeferrable(Account, 'deposit', 'instance')).toBe(true);
    expect(isDeferrable(Account, 'totalBalance', 'static')).toBe(true);
    expect(isDeferrable(Account, 'notMarked', 'instance')).toBe(false);
    expect(isDeferrable(Account, 'notMarkedStatic', 'static')).toBe(false);
    expect(isDeferrable(Membership, 'promote', 'instance')).toBe(true);
    expect(isDeferrable(Membership, 'deposit', 'instance')).toBe(false);
  });

  it('refuses to mark constructor, __proto__, symbols and non-methods', () => {
    const decorate = Deferrable();
    const proto = {} as object;
    const method = { value: () => 1, writable: true, configurable: true, enumerable: false };
    for (const key of ['constructor', '__proto__', 'prototype'] as const) {
      const err = (() => { try { decorate(proto, key, method); } catch (e) { return e; } })();
      expect(err, key).toBeInstanceOf(DeferralError);
      expect((err as DeferralError).code).toBe('DEFER_ERR_METHOD_NOT_DEFERRABLE');
    }
    expect(() => decorate(proto, Symbol('run'), method)).toThrow(DeferralError);
    expect(() => decorate(proto, 'getter', { get: () => 1, configurable: true, enumerable: false })).toThrow(DeferralError);
    expect(() => decorate(proto, 'field', { value: 42, writable: true, configurable: true, enumerable: false })).toThrow(DeferralError);
  });

  it('refuses a getter marked with the decorator syntax', () => {
    expect(() => {
      class Bad {
        @Deferrable()
        get value(): number { return 1; }
      }
      return Bad;
    }).toThrow(DeferralError);
  });

  it('is false when a marked name is no longer a function on the class', () => {
    class Patched {
      @Deferrable()
      work(): number { return 1; }
    }
    expect(isDeferrable(Patched, 'work', 'instance')).toBe(true);
    Object.defineProperty(Patched.prototype, 'work', { value: 'not a function', configurable: true });
    expect(isDeferrable(Patched, 'work', 'instance')).toBe(false);
  });
});
