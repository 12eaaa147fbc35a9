import { Column, Entity, PrimaryGeneratedColumn } from 'typeorm';
import { currentJob, Deferrable, reportProgress } from 'typeorm-deferred';

// Decorated in CommonJS: the mark must reach whichever worker runs the job, ESM CLI included.
@Entity()
export class Report {
  @PrimaryGeneratedColumn() id!: number;
  @Column('integer', { default: 0 }) total!: number;

  @Deferrable()
  async add(amount: number): Promise<{ total: number; uid: string | number }> {
    const job = currentJob()!;
    reportProgress({ message: 'adding', progress: 50 });
    this.total += amount;
    await job.manager.save(this);
    return { total: this.total, uid: job.uid };
  }
}
