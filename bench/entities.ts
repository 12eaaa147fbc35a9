import 'reflect-metadata';
import { Column, Entity, PrimaryGeneratedColumn } from 'typeorm';
import { Deferrable } from '../src/index.js';

/** The record every benchmarked job is called on. */
@Entity()
export class BenchItem {
  @PrimaryGeneratedColumn('increment', { type: 'integer' }) id!: number;
  @Column('varchar') name!: string;

  /** Does nothing, so a job's cost is the library's and BullMQ's overhead alone. */
  @Deferrable()
  async noop(): Promise<null> {
    return null;
  }
}
