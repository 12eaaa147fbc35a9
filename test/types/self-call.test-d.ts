// Deferring a method of the same record from inside an entity method.
import { Column, DataSource, Entity, EntityManager, PrimaryGeneratedColumn } from 'typeorm';
import { currentJob, Deferrable, Deferred, DeferredType, type DeferredJob } from '../../src/index.js';
import { type Equal, type Expect } from './type-assert.js';

declare const ds: DataSource;

@Entity()
export class Ledger {
  @PrimaryGeneratedColumn() id!: number;
  @Column('integer') balance!: number;

  @Deferrable()
  async recompute(rate: number): Promise<number> {
    return this.balance * rate;
  }

  // 8. Inside a method, `this` has the polymorphic type `this` (a type parameter
  // bounded by Ledger), not Ledger. TypeScript cannot resolve the method names
  // of `this` while `this` is still generic, so 'recompute' is not known to be
  // a method name. This is a TypeScript limitation, not a library bug; use one
  // of the two idioms below.
  async polymorphicThis() {
    // @ts-expect-error: `this` is the polymorphic `this` type; MethodNames<this> stays unresolved
    return Deferred(this, ds, 1, 'recompute', 2);
  }

  // (a) Declare the method's `this` parameter: `this` is then exactly Ledger.
  async withThisParameter(this: Ledger) {
    const job = await Deferred(this, ds, 1, 'recompute', 2);
    type _ = Expect<Equal<typeof job, DeferredJob<number>>>;
    return job;
  }

  async withThisParameterWrongName(this: Ledger) {
    // @ts-expect-error: still checked: no such method
    return Deferred(this, ds, 1, 'recalculate', 2);
  }

  async withThisParameterWrongArgs(this: Ledger) {
    // @ts-expect-error: still checked: rate must be a number
    return Deferred(this, ds, 1, 'recompute', 'two');
  }

  // (b) Cast `this` to the entity type.
  async withCast() {
    const job = await Deferred(this as Ledger, ds, 1, 'recompute', 2);
    type _ = Expect<Equal<typeof job, DeferredJob<number>>>;
    return job;
  }

  async withCastWrongName() {
    // @ts-expect-error: still checked: no such method
    return Deferred(this as Ledger, ds, 1, 'recalculate', 2);
  }

  async withCastMissingArg() {
    // @ts-expect-error: still checked: rate is required
    return Deferred(this as Ledger, ds, 1, 'recompute');
  }

  // The nested form from inside a job (the fixtures use it): a variant, the job's
  // manager as db and the job's uid.
  @Deferrable()
  async nested(allowNested: boolean) {
    const { manager, uid } = currentJob()!;
    type _m = Expect<Equal<typeof manager, EntityManager>>;
    const job = await DeferredType({ allowNested })(this as Ledger, manager, uid, 'recompute', 2);
    type _j = Expect<Equal<typeof job, DeferredJob<number>>>;
    return job.result();
  }

  // In a static method `this` is `typeof Ledger` (not polymorphic): it works as is.
  @Deferrable()
  static async recomputeLater() {
    const job = await Deferred(this, ds, 1, 'total');
    type _ = Expect<Equal<typeof job, DeferredJob<number>>>;
    return job;
  }

  static async recomputeLaterWrongName() {
    // @ts-expect-error: still checked: no such static method
    return Deferred(this, ds, 1, 'totals');
  }

  @Deferrable()
  static async total(): Promise<number> {
    return 0;
  }
}
